"""The layout of the rule files: each file uses, while Snakemake parses it, only what the
files included before it (or its own lines above) define, and common.smk stays small.

A stage's rules are rules/<stage>.smk, which includes its helpers (input functions and
the values they read) from rules/helpers/<stage>.smk at its top: `snakemake --lint` asks
for functions and rules in separate files.

Snakemake runs the Snakefile and its includes as one Python namespace, top to bottom, so a
rule file that relies on a name defined by a later one works only if nothing reads the name
until after parsing: fragile. This reads the include order from workflow/Snakefile and, with
Python's tokenizer (no Snakemake run), each file's top-level statements: what they define
(assignments, defs, classes, imports, rules) and what they use at parse time (names and
`rules.<name>` in top-level statements, rule bodies and directives, and, through the
functions that they call, in those functions' bodies). Function bodies that are only passed
as input functions run after parsing and may use anything.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflow"
COMMON_SMK_MAX_LINES = 220

# Top-level Snakemake keywords whose block (or value) is read at parse time, defining nothing.
PARSE_TIME_DIRECTIVES = {
    "configfile",
    "container",
    "containerized",
    "envvars",
    "include",
    "localrules",
    "module",
    "pepfile",
    "pepschema",
    "report",
    "resource_scopes",
    "ruleorder",
    "scattergather",
    "singularity",
    "storage",
    "wildcard_constraints",
    "workdir",
}
RUNTIME_HANDLERS = {"onstart", "onsuccess", "onerror"}  # bodies run after parsing


@dataclass
class Where:
    file: str
    line: int
    position: int  # in parse order, across files

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Uses:
    """Names, rules (`rules.<name>`) and called names in some statements."""

    names: list[tuple[str, Where]] = field(default_factory=list)
    rules: list[tuple[str, Where]] = field(default_factory=list)
    calls: list[tuple[str, Where]] = field(default_factory=list)


@dataclass
class Layout:
    """The definitions and parse-time uses of a Snakefile and its includes, in parse order."""

    files: list[str] = field(default_factory=list)  # in include order, the Snakefile first
    definitions: dict[str, list[Where]] = field(default_factory=dict)  # name -> where, in order
    imported: set[str] = field(default_factory=set)  # names bound by an import
    settings: set[str] = field(default_factory=set)  # names bound to a value of the config
    rules: dict[str, Where] = field(default_factory=dict)
    functions: dict[str, Where] = field(default_factory=dict)  # def, class
    uses: list[tuple[str, Where]] = field(default_factory=list)  # parse time
    rule_uses: list[tuple[str, Where]] = field(default_factory=list)
    calls: list[tuple[str, Where]] = field(default_factory=list)
    bodies: dict[str, Uses] = field(default_factory=dict)  # function -> its body's uses
    lines: dict[str, int] = field(default_factory=dict)  # file -> number of lines


def logical_lines(text: str) -> list[tuple[int, list[tokenize.TokenInfo]]]:
    """(indentation depth, tokens) of each logical line, without comments and blank lines."""
    lines, depth, current = [], 0, []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.INDENT:
            depth += 1
        elif tok.type == tokenize.DEDENT:
            depth -= 1
        elif tok.type == tokenize.NEWLINE:
            if current:
                lines.append((depth, current))
            current = []
        elif tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
            current.append(tok)
    return lines


def _fstring_names(tok: tokenize.TokenInfo) -> list[str]:
    """The names in the expressions of an f-string token (one token before Python 3.12)."""
    prefix = re.match(r"[A-Za-z]*", tok.string).group(0).lower()
    if "f" not in prefix:
        return []
    tree = ast.parse(tok.string, mode="eval")
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def scan(tokens: list[tokenize.TokenInfo]) -> tuple[list[str], list[str], list[str]]:
    """Names used (not attributes, not keyword arguments), `rules.<name>`, names called."""
    names, rules, calls = [], [], []
    for i, tok in enumerate(tokens):
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if tok.type == tokenize.STRING:
            names += _fstring_names(tok)
        elif tok.type == tokenize.NAME and before != ".":
            if tok.string == "rules" and after == "." and i + 2 < len(tokens):
                rules.append(tokens[i + 2].string)
            elif after != "=":  # `name=value`: a keyword argument or an assignment target
                names.append(tok.string)
                if after == "(":
                    calls.append(tok.string)
    return names, rules, calls


def assignment_targets(tokens: list[tokenize.TokenInfo]) -> list[str] | None:
    """The names that a `a = b = value` or `a, b = value` line binds; None for no assignment."""
    depth, cuts = 0, []
    for i, tok in enumerate(tokens):
        if tok.string in "([{" and tok.type == tokenize.OP:
            depth += 1
        elif tok.string in ")]}" and tok.type == tokenize.OP:
            depth -= 1
        elif depth == 0 and tok.type == tokenize.OP and tok.string == "=":
            cuts.append(i)
    if not cuts:
        return None
    targets, start = [], 0
    for cut in cuts:
        part = [t for t in tokens[start:cut] if t.string != ","]
        if all(t.type == tokenize.NAME for t in part):  # not `config["x"] = ...`
            targets += [t.string for t in part]
        start = cut + 1
    return targets


def imported_names(tokens: list[tokenize.TokenInfo]) -> list[str]:
    words = [t.string for t in tokens if t.string not in ("(", ")")]
    if words[0] == "import":  # import a.b as c, d
        items = " ".join(words[1:]).split(",")
        return [item.split()[-1].split(".")[0] for item in items]
    items = " ".join(words[words.index("import") + 1 :]).split(",")
    return [item.split()[-1] for item in items if item.strip()]


def read_layout(snakefile: Path) -> Layout:
    """The layout of ``snakefile`` and the files it includes (relative to its folder)."""
    layout = Layout()
    counter = iter(range(10**9))
    _read_file(snakefile, snakefile.parent, layout, counter)
    return layout


def _read_file(path: Path, root: Path, layout: Layout, counter) -> None:
    name = path.relative_to(root).as_posix()
    layout.files.append(name)
    text = path.read_text()
    layout.lines[name] = len(text.splitlines())
    stack: list[tuple[int, str, str | None]] = []  # (depth of header, kind, function)
    for depth, tokens in logical_lines(text):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        kind, function = stack[-1][1:] if stack else ("top", None)
        where = Where(name, tokens[0].start[0], next(counter))
        opens_block = tokens[-1].string == ":"
        first = tokens[0].string
        second = tokens[1].string if len(tokens) > 1 else ""
        names, rules, calls = scan(tokens)
        if kind in ("def", "runtime"):  # a body: runs when called
            if kind == "def":
                body = layout.bodies[function]
                body.names += [(n, where) for n in names]
                body.rules += [(r, where) for r in rules]
                body.calls += [(c, where) for c in calls]
            if opens_block:
                stack.append((depth, kind, function))
            continue
        if kind == "top" or kind == "python":
            if first in ("def", "class"):
                layout.definitions.setdefault(second, []).append(where)
                layout.functions[second] = where
                layout.bodies[second] = Uses()
                names = [n for n in names if n != second]  # the header runs now
                calls = [c for c in calls if c != second]
                stack.append((depth, "def", second))
            elif first in ("rule", "checkpoint") and opens_block:
                layout.rules[second] = where
                names = [n for n in names if n != second]
                stack.append((depth, "rule", None))
            elif first in RUNTIME_HANDLERS and second == ":":
                stack.append((depth, "runtime", None))
                continue
            elif first in PARSE_TIME_DIRECTIVES and second == ":":
                if first == "include":
                    include = ast.literal_eval(tokens[2].string)
                    _read_file(path.parent / include, root, layout, counter)
                    continue
                if opens_block:
                    stack.append((depth, "directive", None))
            elif first in ("import", "from"):
                for bound in imported_names(tokens):
                    layout.definitions.setdefault(bound, []).append(where)
                    layout.imported.add(bound)
                continue
            elif opens_block:  # if/else/with/for/try: its lines are top level too
                stack.append((depth, "python", None))
            else:
                targets = assignment_targets(tokens) or []
                for target in targets:
                    layout.definitions.setdefault(target, []).append(where)
                if "config" in names:
                    layout.settings.update(targets)
        elif opens_block:  # a directive inside a rule or a top-level directive
            stack.append((depth, kind, None))
        layout.uses += [(n, where) for n in names]
        layout.rule_uses += [(r, where) for r in rules]
        layout.calls += [(c, where) for c in calls]


def used_before_defined(layout: Layout) -> list[str]:
    """Every parse-time use of a workflow name or rule before the statement defining it."""
    problems = []

    def first_definition(name: str) -> Where | None:
        return layout.definitions[name][0] if name in layout.definitions else None

    def check(name: str, where: Where, via: str) -> None:
        defined = first_definition(name)
        if defined is not None and defined.position >= where.position:
            problems.append(f"{where}{via} uses {name}, defined later at {defined}")

    def check_rule(rule: str, where: Where, via: str) -> None:
        defined = layout.rules.get(rule)
        if defined is None:
            problems.append(f"{where}{via} uses rules.{rule}, which no file defines")
        elif defined.position >= where.position:
            problems.append(f"{where}{via} uses rules.{rule}, defined later at {defined}")

    def check_call(function: str, where: Where, seen: tuple[str, ...]) -> None:
        """A function called at parse time: its body runs now, so it uses its names now."""
        if function not in layout.bodies or function in seen:
            return
        via = f" (calling {' -> '.join((*seen, function))})"
        body = layout.bodies[function]
        for name, _ in body.names:
            check(name, where, via)
        for rule, _ in body.rules:
            check_rule(rule, where, via)
        for called, _ in body.calls:
            check_call(called, where, (*seen, function))

    for name, where in layout.uses:
        check(name, where, "")
    for rule, where in layout.rule_uses:
        check_rule(rule, where, "")
    for function, where in layout.calls:
        check_call(function, where, ())
    return sorted(set(problems))


def defined_in_two_files(layout: Layout) -> list[str]:
    """Names that two files define (imports aside): the later one silently wins."""
    return [
        f"{name}: {', '.join(str(w) for w in wheres)}"
        for name, wheres in layout.definitions.items()
        if name not in layout.imported and len({w.file for w in wheres}) > 1
    ]


def stage(file: str) -> str:
    """The stage of a rule file: rules/<stage>.smk and its rules/helpers/<stage>.smk."""
    return Path(file).stem


def settings_shared_between_stages(layout: Layout) -> list[str]:
    """Config settings that a stage defines (`NAME = config[...]`) and another stage uses.

    Settings shared by several stages are common.smk's; a stage's own stay in its files, so
    that no stage relies on a sibling's (comparison.smk reads the figure settings from the
    config itself, not from figures.smk).
    """
    uses = [*layout.uses, *(use for body in layout.bodies.values() for use in body.names)]
    problems = []
    for name in sorted(layout.settings):
        defined = layout.definitions[name][0]
        if defined.file == "rules/common.smk":
            continue
        problems += [
            f"{where} uses {name}, a setting of {defined.file}"
            for used, where in uses
            if used == name and stage(where.file) != stage(defined.file)
        ]
    return problems


@pytest.fixture(scope="module")
def layout() -> Layout:
    return read_layout(WORKFLOW / "Snakefile")


def test_the_snakefile_includes_every_rule_file_once(layout: Layout):
    included = [name for name in layout.files if name != "Snakefile"]
    assert sorted(included) == sorted(
        p.relative_to(WORKFLOW).as_posix() for p in (WORKFLOW / "rules").rglob("*.smk")
    )
    assert len(set(included)) == len(included)
    assert included[0] == "rules/common.smk", "validation and paths come first"


def test_each_stages_helpers_are_included_at_its_top(layout: Layout):
    for helpers in sorted((WORKFLOW / "rules" / "helpers").glob("*.smk")):
        stage_file = f"rules/{helpers.name}"
        assert layout.files.index(f"rules/helpers/{helpers.name}") == (
            layout.files.index(stage_file) + 1
        ), f"{stage_file} includes its helpers first"


def test_no_file_mixes_rules_and_functions(layout: Layout):
    """What `snakemake --lint` asks ("Mixed rules and functions in same snakefile")."""
    with_rules = {where.file for where in layout.rules.values()}
    with_functions = {where.file for where in layout.functions.values()}
    assert with_rules & with_functions == set()


def test_nothing_is_used_before_the_file_defining_it_is_included(layout: Layout):
    assert used_before_defined(layout) == []


def test_no_name_is_defined_in_two_rule_files(layout: Layout):
    assert defined_in_two_files(layout) == []


def test_a_stage_reads_no_setting_of_another_stage(layout: Layout):
    assert settings_shared_between_stages(layout) == []


def test_the_analysis_sees_the_workflow(layout: Layout):
    """The scan finds what the rule files share (else the checks above would be empty)."""
    assert layout.definitions["CITY_DIR"][0].file == "rules/common.smk"
    assert layout.definitions["figure_report"][0].file == "rules/helpers/figures.smk"
    assert {"tile_scene", "assemble_geojson", "plot_web_map", "all"} <= set(layout.rules)
    uses = {(name, where.file) for name, where in layout.uses}
    assert ("CITY_DIR", "rules/tiles.smk") in uses  # in an f-string of a rule
    assert ("all_outputs", "Snakefile") in uses
    assert ("gather_tiles", "rules/deepcluster.smk") in {
        (rule, where.file) for rule, where in layout.rule_uses
    }
    assert {"KS", "FIGURE_DPI", "PALETTE", "CHUNKS"} <= layout.settings


def test_common_smk_holds_validation_paths_and_accessors_only(layout: Layout):
    assert layout.lines["rules/common.smk"] <= COMMON_SMK_MAX_LINES
    common = {
        name for name, wheres in layout.definitions.items() if wheres[0].file == "rules/common.smk"
    }
    # the stages' own helpers live in their files
    for helper in ("figure_report", "all_outputs", "comparison_report", "training_settings"):
        assert helper not in common


# --- the checker itself, on a made-up workflow ---------------------------------------------


def _workflow(tmp_path: Path, first: str, second: str, snakefile_tail: str = "") -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "first.smk").write_text(first)
    (tmp_path / "rules" / "second.smk").write_text(second)
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        'include: "rules/first.smk"\ninclude: "rules/second.smk"\n' + snakefile_tail
    )
    return snakefile


def test_the_checker_finds_a_name_of_a_later_file(tmp_path: Path):
    first = 'rule a:\n    output:\n        f"{OUT}/a.txt",\n    params:\n        dpi=DPI,\n'
    second = 'OUT = "results"\nDPI = 100\n'
    problems = used_before_defined(read_layout(_workflow(tmp_path, first, second)))
    assert problems == [
        "rules/first.smk:3 uses OUT, defined later at rules/second.smk:1",
        "rules/first.smk:5 uses DPI, defined later at rules/second.smk:2",
    ]


def test_the_checker_follows_calls_at_parse_time_only(tmp_path: Path):
    first = (
        "def outputs():\n    return [OUT]\n\n\n"
        "def input_function(wildcards):\n    return rules.b.output[0]\n\n\n"
        "rule a:\n    input:\n        input_function,\n    output:\n        outputs(),\n"
    )
    second = 'OUT = "results"\n\n\nrule b:\n    output:\n        "b.txt",\n'
    problems = used_before_defined(read_layout(_workflow(tmp_path, first, second)))
    assert problems == [
        "rules/first.smk:13 (calling outputs) uses OUT, defined later at rules/second.smk:1"
    ]


def test_the_checker_finds_a_rule_of_a_later_file(tmp_path: Path):
    first = "X = rules.b.output[0]\n"
    second = 'rule b:\n    output:\n        "b.txt",\n'
    tail = "\n\nrule all:\n    input:\n        rules.b.output,\n"
    problems = used_before_defined(read_layout(_workflow(tmp_path, first, second, tail)))
    assert problems == ["rules/first.smk:1 uses rules.b, defined later at rules/second.smk:1"]


def test_the_checker_finds_a_setting_of_a_sibling_stage(tmp_path: Path):
    first = 'DPI = config["figures"]["dpi"]\n'
    second = "rule b:\n    params:\n        dpi=DPI,\n"
    problems = settings_shared_between_stages(read_layout(_workflow(tmp_path, first, second)))
    assert problems == ["rules/second.smk:3 uses DPI, a setting of rules/first.smk"]


def test_the_checker_finds_a_name_defined_twice(tmp_path: Path):
    first = "from x import helper\nDPI = 1\n"
    second = "from x import helper\nDPI = 2\n"
    assert defined_in_two_files(read_layout(_workflow(tmp_path, first, second))) == [
        "DPI: rules/first.smk:2, rules/second.smk:2"
    ]
