"""Copy generated result tables into README.md and docs/*.md, so no figure there is typed by hand.

Each page marks each generated block as

    <!-- generated: results/evaluate.md -->
    ...replaced by the file's content...
    <!-- end generated -->

The marked path is relative to the repository root, whichever page holds the block (a block in
docs/results.md names results/evaluate.md, not ../results/evaluate.md).

Usage: python benchmarks/readme_tables.py [FILE ...]   (run by analysis.sh and experiment.sh)
Without FILE it fills README.md and every docs/*.md of the repository. A marked file that does
not exist yet leaves a line saying so; a file other than Markdown is shown as a code block.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: marked paths are relative to it
BLOCK = re.compile(r"(<!-- generated: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)",
                   re.S)


def fill(readme: str, root: Path) -> str:
    """``readme`` with every generated block refilled from the file it names under ``root``."""
    def replace(m: re.Match) -> str:
        path = root / m["path"]
        body = path.read_text() if path.exists() else f"({m['path']} is not generated yet)\n"
        if not body.endswith("\n"):
            body += "\n"
        if path.suffix != ".md":  # plain text keeps its layout in a code block
            body = "```text\n" + body + "```\n"
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(replace, readme)


def pages(root: Path = ROOT) -> list[Path]:
    """The pages filled when no file is named: README.md and docs/*.md."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.exists()]


def main() -> None:
    for page in [Path(a) for a in sys.argv[1:]] or pages():
        text = page.read_text()
        blocks = len(BLOCK.findall(text))
        page.write_text(fill(text, ROOT))
        print(f"updated {blocks} generated block(s) of {page}")


if __name__ == "__main__":
    main()
