"""The dependency rules of the developers' guide, checked on the source.

Imports are read from each module's AST (relative imports resolved), so a
rule cannot be dodged by importing inside a function.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import orderbook_lab
import orderbook_lab.core

PACKAGE = Path(orderbook_lab.__file__).parent
_CORE_FORBIDDEN = (
    "asyncio",
    "threading",
    "multiprocessing",
    "concurrent",
    "rich",
    "typer",
    "orderbook_lab.engines",
    "orderbook_lab.cli",
    "orderbook_lab.experiments",
    "orderbook_lab.live",
    "websockets",
    "structlog",
    "prometheus_client",
    "http",
    "orderbook_lab.service",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # "from .. import engines" imports a module by its attribute name
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _offending(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return _offending_names(_imports(path), forbidden)


def _offending_names(imports: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imports if any(name == f or name.startswith(f + ".") for f in forbidden))


def _files(subpackage: str) -> list[Path]:
    files = sorted((PACKAGE / subpackage).rglob("*.py"))
    assert files, subpackage
    return files


def test_the_checker_sees_every_way_of_importing():
    source = (
        "from .. import engines\n"
        "from ..cli.app import app\n"
        "from . import book\n"
        "import concurrent.futures\n"
        "def hidden():\n"
        "    import threading\n"
    )
    imports = _imports_of(source, "orderbook_lab.core")
    assert {"orderbook_lab.engines", "orderbook_lab.cli.app", "orderbook_lab.core.book"} <= imports
    assert {"concurrent.futures", "threading"} <= imports
    assert _offending_names(imports, _CORE_FORBIDDEN) == [
        "concurrent.futures",
        "orderbook_lab.cli.app",
        "orderbook_lab.cli.app.app",
        "orderbook_lab.engines",
        "threading",
    ]


def test_import_resolution_sees_relative_imports():
    imports = _imports(PACKAGE / "engines" / "sync.py")
    assert "orderbook_lab.core.source" in imports
    assert "orderbook_lab.engines._pipeline" in imports
    assert "orderbook_lab.engines" in _imports(PACKAGE / "cli" / "app.py")


@pytest.mark.parametrize("path", _files("core"), ids=lambda p: p.name)
def test_core_knows_nothing_of_concurrency_ui_or_engines(path):
    assert _offending(path, _CORE_FORBIDDEN) == []


@pytest.mark.parametrize("path", _files("engines"), ids=lambda p: p.name)
def test_engines_never_import_the_cli_or_the_experiments(path):
    assert _offending(path, ("orderbook_lab.cli", "orderbook_lab.experiments", "typer", "rich")) == []


@pytest.mark.parametrize("path", _files("live"), ids=lambda p: p.name)
def test_the_recorder_uses_the_core_only(path):
    forbidden = ("orderbook_lab.engines", "orderbook_lab.experiments", "orderbook_lab.cli", "typer", "rich")
    assert _offending(path, forbidden) == []


def test_the_live_package_loads_websockets_only_when_recording():
    # ``live/__init__`` imports no module of its own: other commands skip websockets.
    assert _imports(PACKAGE / "live" / "__init__.py") == set()
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, orderbook_lab.cli; print('websockets' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "False", loaded.stderr


@pytest.mark.parametrize("path", _files("service"), ids=lambda p: p.name)
def test_the_service_never_imports_the_cli_or_the_experiments(path):
    forbidden = ("orderbook_lab.cli", "orderbook_lab.experiments", "typer", "rich")
    assert _offending(path, forbidden) == []


def test_the_service_libraries_load_only_when_serving():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, orderbook_lab.cli; print(sorted({'structlog', 'prometheus_client'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "[]", loaded.stderr


@pytest.mark.parametrize("path", _files("experiments"), ids=lambda p: p.name)
def test_experiments_never_import_the_cli(path):
    assert _offending(path, ("orderbook_lab.cli", "typer", "rich")) == []


@pytest.mark.parametrize(
    "path", [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.parts], ids=lambda p: _module_name(p)
)
def test_only_the_cli_prints(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert calls == [], f"print() at lines {calls}"


def test_package_exports_are_pinned():
    assert orderbook_lab.__all__ == [
        "BookMessage",
        "LastTradePriceMessage",
        "MessageRouter",
        "MessageSource",
        "PriceChangeMessage",
        "PriceLevel",
        "StateMachine",
        "TickSizeChangeMessage",
    ]
    for name in orderbook_lab.__all__:
        assert getattr(orderbook_lab, name) is getattr(orderbook_lab.core, name)


def test_core_exports_are_pinned():
    assert orderbook_lab.core.__all__ == [
        "SYSTEM_CLOCK",
        "BookMessage",
        "BookView",
        "Clock",
        "Frame",
        "InvalidValue",
        "LastTradePriceMessage",
        "LatencyHistogram",
        "ManualClock",
        "Message",
        "MessageRouter",
        "MessageSource",
        "OtherMessage",
        "Percentiles",
        "PriceChange",
        "PriceChangeMessage",
        "PriceLevel",
        "Rejection",
        "RouterStats",
        "SourceConfig",
        "StateMachine",
        "SystemClock",
        "TickSizeChangeMessage",
        "books_digest",
        "parse_line",
        "parse_object",
        "price_to_ticks",
        "ticks_to_price",
    ]
    for name in orderbook_lab.core.__all__:
        assert hasattr(orderbook_lab.core, name), name
