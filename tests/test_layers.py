"""The import layers of mixgan (docs/design.md, "Layout"), checked statically: every module under mixgan/
is parsed with `ast` and each import of a mixgan module, function-local ones included, must go down the
table below. The commands sit on top: train.py → experiments → trainers → (objectives, models, data,
metrics, rundir) → config.core, errors. Imports made by name at run time (the task registry's
"module:Class" strings, entry points) are not seen here: registries are how a lower layer reaches a
plugin on purpose.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mixgan"

# Module name (or a package: its modules too) -> layer; the longest match wins. A new top-level module
# matches none: it must be placed here.
LAYER_OF = {
    "mixgan.__init__": "core",  # the package itself (its exports are "module:attr" strings)
    "mixgan.errors": "core", "mixgan._registry": "core", "mixgan.streams": "core", "mixgan.mixup": "core",
    "mixgan.tasks": "core",  # the task registry: names and "module:Class" strings only
    "mixgan.config.core": "core", "mixgan.config.untrusted": "core",
    "mixgan.config": "config",  # the task schemas, sweep files, the train command's arguments
    "mixgan.data": "data", "mixgan.models": "models", "mixgan.objectives": "objectives",
    "mixgan.metrics": "metrics", "mixgan.rundir": "rundir",
    "mixgan.trainers": "trainers", "mixgan.experiments": "experiments", "mixgan.report": "report",
    "mixgan.api": "api", "mixgan.registries": "api", "mixgan.benchmarks": "benchmarks",
    "mixgan.train": "train", "mixgan.compare": "compare", "mixgan.ablate": "ablate",
}

STAGES = {"core", "config", "data", "models", "objectives", "metrics", "rundir"}
# Layer -> the other layers its modules may import (a layer may always import itself).
MAY_IMPORT = {
    "core": set(),
    "data": {"core"},
    "models": {"core"},
    "objectives": {"core"},
    "rundir": {"core"},
    "metrics": {"core", "models"},  # the digit classifier's network (metrics/digits_net.py)
    "config": {"core", "data", "models", "objectives"},  # schemas check names against the registries
    "trainers": STAGES,
    "experiments": STAGES | {"trainers"},
    "report": STAGES,  # reads run dirs; never trains
    "train": STAGES | {"trainers", "experiments"},
    "compare": STAGES | {"trainers", "report"},
    "ablate": STAGES | {"trainers", "experiments", "report", "compare"},  # trains through subprocesses
    "benchmarks": STAGES | {"trainers", "experiments"},
    "api": STAGES | {"trainers", "experiments", "report", "compare"},  # train_gan, run_logger, compare_runs
}

# (importer, imported module) -> why it may go up. Each target must stay a leaf (LEAF_IMPORTS).
EXCEPTIONS = {
    ("mixgan.config.sweep", "mixgan.report.tables"):
        "a sweep that names no `metrics:` reports the final values behind compare's standard columns "
        "of its task (standard_metrics); report.tables reads only errors and report.stats",
    ("mixgan.trainers.gan", "mixgan.report.plots"):
        "the toy GAN draws its TensorBoard sample pictures with report's matplotlib helpers",
    ("mixgan.trainers.classifier", "mixgan.report.plots_classify"):
        "the classifier draws its decision-boundary pictures with report's matplotlib helpers",
}
LEAF_IMPORTS = {"mixgan.errors", "mixgan.report.stats", "mixgan.report.plots"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    module = "mixgan.__init__" if module == "mixgan" else module
    matches = [k for k in LAYER_OF if module == k or module.startswith(k + ".")]
    return LAYER_OF[max(matches, key=len)] if matches else None


def imports_of(module: str, source: str, modules: set[str], is_package: bool) -> set[tuple[str, int]]:
    """The mixgan modules `source` imports anywhere (module level, functions, branches), with lines."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "mixgan"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            if base.split(".")[0] != "mixgan":
                continue
            for alias in node.names:  # `from mixgan.report import plots` imports the module plots
                sub = f"{base}.{alias.name}"
                found.add((sub if sub in modules else base, node.lineno))
    return found


def violations(sources: dict[str, tuple[str, bool]]) -> tuple[list[str], set[tuple[str, str]]]:
    """Imports against the table (one line each) and the EXCEPTIONS that were used."""
    bad, used = [], set()
    for module, (source, is_package) in sorted(sources.items()):
        layer = layer_of(module)
        if layer is None:
            bad.append(f"{module}: in no layer; add it to LAYER_OF")
            continue
        for target, line in sorted(imports_of(module, source, set(sources), is_package)):
            theirs = layer_of(target)
            if theirs == layer or theirs in MAY_IMPORT[layer]:
                continue
            if (module, target) in EXCEPTIONS:
                used.add((module, target))
                continue
            bad.append(f"{module}:{line} ({layer}) imports {target} ({theirs})")
    return bad, used


def package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == "__init__.py") for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_goes_down_the_layers():
    bad, used = violations(package_sources())
    assert not bad, "imports that run uphill (docs/design.md, Layout):\n" + "\n".join(bad)
    stale = set(EXCEPTIONS) - used
    assert not stale, f"exceptions no longer needed, remove them from EXCEPTIONS: {sorted(stale)}"


def test_the_targets_of_exceptions_stay_leaves():
    sources = package_sources()
    for target in {t for _, t in EXCEPTIONS}:
        source, is_package = sources[target]
        reads = {m for m, _ in imports_of(target, source, set(sources), is_package)}
        assert reads <= LEAF_IMPORTS | {target}, f"{target} imports {sorted(reads - LEAF_IMPORTS)}"


def test_the_check_sees_an_uphill_import_inside_a_function():
    sources = {"mixgan.trainers.loop": ("", False), "mixgan.errors": ("", False),
               "mixgan.data.bad": ("from mixgan.errors import ConfigError\n\ndef f():\n"
                                   "    from mixgan.trainers.loop import run_stack\n", False),
               "mixgan.rundir.rel": ("from ..trainers import loop\n", False),
               "mixgan.nowhere_new": ("", False)}
    bad, _ = violations(sources)
    assert bad == ["mixgan.data.bad:4 (data) imports mixgan.trainers.loop (trainers)",
                   "mixgan.nowhere_new: in no layer; add it to LAYER_OF",
                   "mixgan.rundir.rel:1 (rundir) imports mixgan.trainers.loop (trainers)"]
