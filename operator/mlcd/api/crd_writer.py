"""Write the generated CRDs where they are committed: manifests/crd/ and the Helm chart."""

import sys
from pathlib import Path

from mlcd.api.crd import crd_files

TARGETS = ("manifests/crd", "charts/mlcd/crds-files")


def main(root: str = ".") -> int:
    for folder in TARGETS:
        target = Path(root) / folder
        if folder.startswith("charts") and not target.parent.exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name, text in crd_files().items():
            (target / name).write_text(text)
            print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
