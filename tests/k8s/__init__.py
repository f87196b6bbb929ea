"""A Kubernetes API emulator for mlcd's tests, built on kmock (see emulator.py and fixtures.py)."""

from tests.k8s.emulator import Emulator
from tests.k8s.faults import FaultPlan
from tests.k8s.files import KSERVE_CRD, WIDGET_CRD, mlcd_crd_files
from tests.k8s.operators import InProcessOperator, OperatorProcess, quick_settings
from tests.k8s.routing import ConstantTimeRouting
from tests.k8s.serving import ServedEmulator
from tests.k8s.waiting import NotReached, wait_for

__all__ = [
    "KSERVE_CRD",
    "WIDGET_CRD",
    "ConstantTimeRouting",
    "Emulator",
    "FaultPlan",
    "InProcessOperator",
    "NotReached",
    "OperatorProcess",
    "ServedEmulator",
    "mlcd_crd_files",
    "quick_settings",
    "wait_for",
]
