"""Parses generated Swift with tree-sitter-swift (no Swift compiler exists on this
machine kind, so this is a syntax check, not a type check). Exits 1 listing the
syntax errors, if any.

    parse_swift.py FILE.swift

UniFFI wraps some declarations' attributes in
`#if swift(>=5.8) @_documentation(visibility: private) #endif`, which the grammar
cannot place before a declaration; those three-line blocks only hide symbols from
generated docs, so they are removed before parsing. As a self-check, the same file
with its last closing brace removed must fail to parse.
"""

import re
import sys

try:
    import tree_sitter
    import tree_sitter_swift
except ImportError as e:
    sys.exit(f"parse_swift: {e}: run scripts/install-test-deps.sh (pip installs tree-sitter and tree-sitter-swift into $HOME/.cache/cairn/venv)")

DOC_ATTR = re.compile(
    r"^[ \t]*#if swift\(>=5\.8\)\n[ \t]*@_documentation\(visibility: private\)\n[ \t]*#endif\n",
    re.M,
)


def errors(parser, text):
    tree = parser.parse(text.encode())
    found = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            line = node.start_point[0] + 1
            lines = text.splitlines()
            shown = lines[line - 1].strip()[:100] if line <= len(lines) else "(end of file)"
            found.append(f"line {line}: {node.type} {shown!r}")
        stack.extend(node.children)
    return found


def main(path):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    text = DOC_ATTR.sub("", open(path, encoding="utf-8").read())
    found = errors(parser, text)
    broken = text[: text.rindex("}")] + text[text.rindex("}") + 1 :]
    if not errors(parser, broken):
        sys.exit("parse_swift: self-check failed: a file missing a brace parsed cleanly")
    if found:
        print(f"{path}: {len(found)} syntax errors", file=sys.stderr)
        for f in found[:20]:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    print(f"PARSED {path} ({len(text.splitlines())} lines, 0 syntax errors)")


if __name__ == "__main__":
    main(sys.argv[1])
