"""README.md read as the tests run it: its sections and their code blocks, each with the
file path the line before it names ("File `path`:")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from conftest import REPO

README = (REPO / "README.md").read_text()
FILE_LINE = re.compile(r"^File `([^`]+)`:$")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    path: str | None  # "File `path`:" on the line before the block


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def blocks(text: str) -> list[Block]:
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang, start = lines[i][3:].strip(), i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            match = FILE_LINE.match(before)
            found.append(Block(lang, "\n".join(lines[start:end]) + "\n",
                               match.group(1) if match else None))
            i = end
        i += 1
    return found
