"""The committed CRDs are exactly what the spec models generate (kubebuilder's drift check).

When a model changes, regenerate both copies with `make manifests`; this test names the stale file.
"""

import pytest

from mlcd.api.crd import crd_files
from tests.kube_checks import ROOT

# manifests/ is what `kubectl apply -k` installs; the chart loads its own copy with .Files.Get,
# because Helm cannot read files outside the chart directory.
COPIES = [ROOT / "manifests" / "crd", ROOT / "charts" / "mlcd" / "crds-files"]


@pytest.mark.parametrize("folder", COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_crds_equal_generated(folder):
    generated = crd_files()
    committed = {p.name: p.read_text() for p in folder.glob("*.yaml")}
    assert sorted(committed) == sorted(generated), "a CRD file is missing or left over; run `make manifests`"
    for name, text in generated.items():
        assert committed[name] == text, f"{folder / name} is stale; run `make manifests`"
