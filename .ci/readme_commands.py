"""Print the commands of the README's first bash block, one a line (comments and blank lines left out).

.ci/run runs what this prints, so CI runs the README's install, demo and test commands exactly as written.
"""
import re
import sys
from pathlib import Path

readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text(encoding="utf-8")
block = re.search(r"^```bash\n(.*?)^```", readme, re.S | re.M)
if block is None:
    sys.exit(f"{sys.argv[1]}: no ```bash block")
for line in block.group(1).splitlines():
    if line.strip() and not line.lstrip().startswith("#"):
        print(line.strip())
