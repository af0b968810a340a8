"""Copy generated result tables into README.md, so no figure there is typed by hand.

README.md marks each generated block as

    <!-- generated: results/evaluate.md -->
    ...replaced by the file's content...
    <!-- end generated -->

Usage: python benchmarks/readme_tables.py [README.md]   (run by analysis.sh and experiment.sh)
A marked file that does not exist yet leaves a line saying so; a file other than Markdown is
shown as a code block.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- generated: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)",
                   re.S)


def fill(readme: str, root: Path) -> str:
    def replace(m: re.Match) -> str:
        path = root / m["path"]
        body = path.read_text() if path.exists() else f"({m['path']} is not generated yet)\n"
        if not body.endswith("\n"):
            body += "\n"
        if path.suffix != ".md":  # plain text keeps its layout in a code block
            body = "```text\n" + body + "```\n"
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(replace, readme)


def main() -> None:
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    readme.write_text(fill(readme.read_text(), readme.parent))
    print(f"updated the generated blocks of {readme}")


if __name__ == "__main__":
    main()
