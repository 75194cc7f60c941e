"""Compile a schema folder into the generated package.

The pipeline: :class:`SchemaSet` loads and checks the schemas; xsdata's
transformer maps them to its class models and resolves them; our own jinja2
templates (``templates/bindings``) render the binding modules and ruff
formats them; the runtime (plain modules from ``runtime/`` copied verbatim,
plus the few schema-derived modules ``templates/runtime`` renders) is
assembled by :mod:`.runtime`.
The result is a mapping of relative file paths to file contents, so that
writing and drift checking share one code path and nothing touches the disk
until the whole package has been produced.
"""

from __future__ import annotations

import json
import keyword
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from xsdata.codegen.models import Class
from xsdata.codegen.resolver import DependenciesResolver
from xsdata.codegen.transformer import ResourceTransformer
from xsdata.formats.dataclass.filters import Filters
from xsdata.formats.dataclass.generator import DataclassGenerator
from xsdata.models import xsd
from xsdata.models.config import DocstringStyle, GeneratorConfig, ObjectType, StructureStyle
from xsdata.models.enums import Tag
from xsdata.models.mixins import ElementBase
from xsdata.models.xsd import Schema
from xsdata.utils import collections

from ..errors import SchemaError, SchemaProblem, SchemaSetError
from ..sources import SourcesNotFound, locate
from . import bindings, docs, formatting, outputcache, runtime
from .formatting import LINE_LENGTH
from .schemafile import XML_NS, XMLDSIG_NS, SchemaFile
from .schemaset import SchemaSet
from .symbols import METHODS_NS, RESPONSE_NS, Symbol, ThingTypeSymbol, method_infos, method_specs


class _Transformer(ResourceTransformer):
    """xsdata's transformer, fed from the checked schema set instead of URLs."""

    def __init__(self, config: GeneratorConfig, schemas: SchemaSet, locate: Callable[[Path], str]) -> None:
        super().__init__(config)
        for path in schemas.usable():
            self.preloaded[locate(path)] = schemas.files[path].to_bytes(locate)
        # xsdata names the groups on an element's path by the id() of their
        # schema objects; keeping every parsed schema alive until the classes
        # are analyzed keeps those ids unique across files (a freed object's
        # id is reused, and :class:`bindings.Occurs` would mix two groups up).
        self.parsed: list[Schema] = []

    def parse_schema(self, uri: str, namespace: str | None) -> Schema | None:
        schema = super().parse_schema(uri, namespace)
        if schema is not None:
            self.parsed.append(schema)
            _report_wildcard_occurrences(schema)
        return schema

    def load_resource(self, uri: str) -> bytes | None:
        if uri in self.processed:
            return None
        self.processed.append(uri)
        data: bytes | None = self.preloaded.get(uri)
        if data is None:  # every import was resolved by SchemaSet already
            raise SchemaError(uri, None, "schema was not loaded by the schema set")
        return data


def _report_wildcard_occurrences(schema: Schema) -> None:
    """Make each ``<any>`` of ``schema`` report the minOccurs the schema gives
    it: xsdata maps every wildcard as optional (minOccurs 0), which would
    make a required one (the thing type's root in ``data-xml``) optional in
    the content model. :class:`bindings.Occurs` records the real value and
    sets xsdata's back, for its analysis."""
    stack: list[ElementBase] = [schema]
    while stack:
        node = stack.pop()
        stack.extend(node.children())
        if isinstance(node, xsd.Any) and node.min_occurs != 0:
            own = node.get_restrictions

            def restrictions(own: Callable[[], dict[str, Any]] = own, low: int = node.min_occurs) -> dict[str, Any]:
                found = own()
                found["min_occurs"] = low
                return found

            node.get_restrictions = restrictions  # type: ignore[method-assign]


_PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*")


class _Filters(Filters):
    """Template filters: xsdata's naming and typing, plus our docstrings.

    Naming rule: a schema type name that is already a PascalCase identifier
    keeps its spelling (``HMACFinalized``, not ``Hmacfinalized``); other
    names (``date-time``, ``codable-value``) get xsdata's PascalCase.
    """

    def class_name(self, name: str) -> str:
        if _PASCAL.fullmatch(name) and not keyword.iskeyword(name):
            return self.apply_substitutions(name, ObjectType.CLASS)
        return super().class_name(name)

    def register(self, env: Environment) -> None:
        super().register(env)
        env.filters.update({"class_doc": self.class_doc, "enum_doc": self.enum_doc, "repr": repr})

    @classmethod
    def build_import_patterns(cls) -> dict[str, dict[str, list[str]]]:
        patterns: dict[str, dict[str, list[str]]] = super().build_import_patterns()
        patterns["typing"]["ClassVar"] = [": ClassVar["]
        patterns["uuid"] = {"UUID": [" UUID("]}
        return patterns

    def class_doc(self, obj: Class) -> str:
        fields = [
            (self.field_name(attr.name, obj.name), " ".join(docs.doc_paragraphs(attr.help))) for attr in obj.attrs
        ]
        return docs.docstring(docs.doc_paragraphs(obj.help), fields)

    def enum_doc(self, obj: Class) -> str:
        return docs.docstring(docs.doc_paragraphs(obj.help), [])


class _Generator(DataclassGenerator):
    """Renders binding modules with our templates, in memory."""

    def __init__(self, config: GeneratorConfig, templates: Path, extra: dict[str, Any]) -> None:
        self._templates = templates
        super().__init__(config)
        self.env.undefined = StrictUndefined
        self.env.globals.update(extra)

    def get_template_paths(self) -> list[str]:  # type: ignore[override]
        return [str(self._templates / "bindings")]

    @classmethod
    def init_filters(cls, config: GeneratorConfig) -> Filters:
        return _Filters(config)

    def module_name(self, name: str) -> str:
        """Module names that would shadow a standard-library module get a suffix."""
        module = super().module_name(name)
        return f"{module}_xsd" if module in sys.stdlib_module_names else module

    def render_bindings(
        self, classes: list[Class], occurs: bindings.Occurs, thing_roots: dict[str, Any]
    ) -> dict[str, str]:
        self.normalize_packages(classes)
        registry = {obj.qname: obj.target_module for obj in classes}
        by_qname = {obj.qname: obj for obj in classes}
        builder = bindings.SpecBuilder(self.filters, occurs, by_qname, thing_roots)
        out: dict[str, str] = {}
        modules = collections.group_by(classes, key=lambda c: c.target_module)
        for module in sorted(modules):
            resolver = DependenciesResolver(registry=registry)
            resolver.process(modules[module])
            imports = resolver.sorted_imports()
            ordered = resolver.sorted_classes()
            builder.start_module()
            specs = [builder.spec(obj) for obj in ordered]
            location = ordered[0].location.rpartition("/")[2] if ordered else ""
            out[module] = self.env.get_template("module.jinja2").render(
                specs=specs,
                imports=imports,
                module=module,
                schema=location,
                runtime="." * module.count("."),
                simple_types=[(name, code) for code, name in builder.pool.items()],
            )
        packages = sorted({m.rpartition(".")[0] for m in out})
        for package in packages:
            parts = package.split(".")
            for i in range(1, len(parts) + 1):
                out.setdefault(".".join(parts[:i]) + ".__init__", "")
        return out


def _config(package: str) -> GeneratorConfig:
    config = GeneratorConfig()
    config.output.package = f"{package}.bindings"
    config.output.structure_style = StructureStyle.FILENAMES
    config.output.relative_imports = True
    config.output.docstring_style = DocstringStyle.GOOGLE
    config.output.max_line_length = LINE_LENGTH
    return config


def _wire_namespace(cls: Class, sf: SchemaFile) -> None:
    """Apply the wire rules to a global element class.

    Thing-type roots sit unqualified inside data-xml, and a method's request
    parameters are the unqualified ``info`` child of the request envelope.
    Response ``info`` elements keep their namespace.
    """
    if cls.tag != Tag.ELEMENT:
        return
    ns = sf.target_namespace
    if sf.thing_type is not None:
        cls.namespace = ""
    elif ns.startswith(METHODS_NS) and not ns.startswith(RESPONSE_NS) and cls.name == "info":
        cls.namespace = ""


def _with_aliases(types: list[ThingTypeSymbol]) -> list[ThingTypeSymbol]:
    """Give each thing type a unique Python name for modules importing them all."""
    out: list[ThingTypeSymbol] = []
    used: set[str] = set()
    for t in types:
        alias = t.symbol.name + (f"V{t.version}" if t.version else "")
        while alias in used:
            alias += "_"
        used.add(alias)
        out.append(replace(t, alias=alias))
    return out


def default_fallbacks() -> dict[str, Path]:
    """The schemas that ship with the generator for the W3C namespaces: the
    XML namespace's attributes, and the project's XML Signature schema."""
    here = Path(__file__).resolve().parent.parent
    found = {XML_NS: here / "w3c" / "xml.xsd"}
    try:
        xmldsig = locate().xsd / "xmldsig.xsd"
    except SourcesNotFound:
        return found
    if xmldsig.is_file():
        found[XMLDSIG_NS] = xmldsig
    return found


class Compiler:
    """Compiles ``xsd_dir`` with ``templates`` into files of package ``package``."""

    def __init__(
        self,
        xsd_dir: Path,
        templates: Path,
        runtime: Path,
        package: str = "healthvault",
        entries: list[Path] | None = None,
        *,
        strict: bool = False,
        fallbacks: dict[str, Path] | None = None,
    ) -> None:
        self.xsd_dir = xsd_dir.resolve()
        #: The schema folder as the caller named it (absolute, symbolic links
        #: kept): problems name files under it, so that a folder reached
        #: through a link is reported as the user knows it.
        self.given_dir = Path(os.path.abspath(xsd_dir))
        self.templates = templates.resolve()
        self.runtime = runtime.resolve()
        self.package = package
        self._entries = entries
        self.strict = strict
        #: Shipped schemas of namespaces (XML, XML Signature) that stand in
        #: for missing imports.
        self.fallbacks = fallbacks if fallbacks is not None else default_fallbacks()
        #: Runtime modules the last compile left out, with the reason.
        self.left_out: list[tuple[str, str]] = []
        #: Problems the last compile found in the schemas (files named under
        #: the schema folder as given), and the schema files it left out
        #: because of them (with the reason; keyed by their real paths).
        self.problems: list[SchemaProblem] = []
        self._real_problems: list[SchemaProblem] = []
        self.excluded: dict[Path, str] = {}

    def entries(self) -> list[Path]:
        """The schemas to compile: given ones, else every .xsd under xsd_dir."""
        if self._entries is not None:
            return sorted(p.resolve() for p in self._entries)
        entries = sorted(self.xsd_dir.rglob("*.xsd"))
        if not entries:
            raise SchemaError(self.given_dir, None, "no .xsd files found")
        return entries

    def compile(self) -> dict[str, str]:
        """Return ``{relative file path: content}`` for the whole package.

        Schema problems are collected in :attr:`problems`; files that cannot
        be compiled are left out (:attr:`excluded`). With ``strict``, any
        problem raises :class:`SchemaSetError` listing them all. A compilation
        of unchanged inputs is read from the cache.
        """
        entries = self.entries()
        settings = json.dumps(
            [
                self.package,
                self.strict,
                [str(e) for e in entries],
                sorted((k, str(v)) for k, v in self.fallbacks.items()),
            ]
        )
        inputs = [self.xsd_dir, *entries, self.templates, self.runtime, *self.fallbacks.values()]
        cache_key = outputcache.key(inputs, settings)
        cached = outputcache.load(cache_key)
        if cached is not None:
            self.problems = self._shown(
                [SchemaProblem(Path(p), line, message, fatal) for p, line, message, fatal in cached["problems"]]
            )
            self.excluded = {Path(p): why for p, why in cached["excluded"]}
            self.left_out = [tuple(x) for x in cached["left_out"]]
            if self.strict and self.problems:
                raise SchemaSetError(self.problems)
            files: dict[str, str] = cached["files"]
            return files
        files = self._compile(entries)
        outputcache.store(
            cache_key,
            {
                "files": files,
                "problems": [[str(p.path), p.line, p.message, p.fatal] for p in self._real_problems],
                "excluded": [[str(p), why] for p, why in sorted(self.excluded.items())],
                "left_out": [list(x) for x in self.left_out],
            },
        )
        return files

    def _compile(self, entries: list[Path]) -> dict[str, str]:
        schemas = SchemaSet(entries, self.fallbacks)
        self._real_problems = list(schemas.problems)
        self.problems = self._shown(schemas.problems)
        self.excluded = dict(schemas.excluded)
        if self.strict and self.problems:
            raise SchemaSetError(self.problems)
        if not schemas.usable():
            raise SchemaSetError(self.problems or [SchemaProblem(self.given_dir, None, "no schema can be compiled")])
        config = _config(self.package)
        transformer = _Transformer(config, schemas, self._uri)
        xsdata_logger = logging.getLogger("xsdata")
        level = xsdata_logger.level
        xsdata_logger.setLevel(logging.ERROR)  # its progress notes are not ours to print
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                transformer.process_sources([self._uri(p) for p in schemas.usable()])
                occurs = bindings.Occurs(transformer.classes)
                classes = transformer.analyze_classes(transformer.classes)
        finally:
            xsdata_logger.setLevel(level)
            transformer.parsed.clear()

        by_location = {self._uri(p): sf for p, sf in schemas.files.items() if p not in schemas.excluded}
        for cls in classes:
            sf = by_location.get(cls.location)
            if sf is not None:
                _wire_namespace(cls, sf)

        generator = _Generator(config, self.templates, {})
        generator.normalize_packages(classes)
        thing_roots = self._thing_types(classes, by_location)
        thing_types = _with_aliases(sorted(thing_roots.values(), key=lambda t: (t.root, t.version or 0, t.type_id)))
        modules = generator.render_bindings(classes, occurs, thing_roots)

        aliases = schemas.aliases()
        files: dict[str, str] = {}
        for module, source in modules.items():
            for alias, real in aliases.items():
                source = source.replace(alias, real)
            path = module.replace(".", "/") + ".py"
            files[path] = source

        symbols = {cls.qname: self._symbol(cls) for cls in classes}
        infos = method_infos(symbols)
        assembly = runtime.assemble(
            self.package,
            self.runtime,
            self.templates / "runtime",
            symbols,
            {"thing_types": thing_types, "methods": infos, "method_specs": method_specs(infos)},
        )
        self.left_out = assembly.left_out
        files.update(assembly.files)
        files.update(self._schema_files(schemas))
        files[f"{self.package}/py.typed"] = ""
        return formatting.format_sources(files, formatting.cache_dir(), skip=assembly.verbatim)

    # -- helpers -------------------------------------------------------------

    def _symbol(self, cls: Class) -> Symbol:
        module = cls.target_module
        assert module.startswith(self.package + ".")
        filters = _Filters(_config(self.package))
        return Symbol(module[len(self.package) + 1 :], filters.class_name(cls.name))

    def _thing_types(self, classes: Iterable[Class], by_location: dict[str, SchemaFile]) -> dict[str, ThingTypeSymbol]:
        """Thing-type root classes by qualified name."""
        found: dict[str, ThingTypeSymbol] = {}
        for cls in classes:
            sf = by_location.get(cls.location)
            if sf is None or sf.thing_type is None or cls.tag != Tag.ELEMENT:
                continue
            info = sf.thing_type
            if cls.name != info.root:
                continue
            found[cls.qname] = ThingTypeSymbol(
                symbol=self._symbol(cls),
                type_id=str(info.type_id),
                name=info.name,
                version=info.version,
                root=info.root,
                schema=self._schema_path(sf.path),
            )
        return found

    def _shown(self, problems: list[SchemaProblem]) -> list[SchemaProblem]:
        """``problems`` with the files under the schema folder named under the
        folder as given rather than its real path (they differ when it is,
        or lies under, a symbolic link)."""
        if self.given_dir == self.xsd_dir:
            return list(problems)
        real, given = f"{self.xsd_dir}{os.sep}", f"{self.given_dir}{os.sep}"

        def shown(path: Path) -> Path:
            return Path(given + str(path)[len(real) :]) if str(path).startswith(real) else path

        return [replace(p, path=shown(p.path), message=p.message.replace(real, given)) for p in problems]

    def _uri(self, path: Path) -> str:
        """Where the compiler sees a schema: shipped stand-ins for W3C schemas
        appear under the schema folder, where the package puts them (w3c/)."""
        return (self.xsd_dir / self._schema_path(path)).as_uri()

    def _schema_path(self, path: Path) -> str:
        """Where a schema goes in the package's xsd/ folder: its place under
        the schema folder, or ``w3c/`` for a shipped stand-in."""
        resolved = path.resolve()
        if resolved in self.fallbacks.values() and not resolved.is_relative_to(self.xsd_dir):
            return f"w3c/{resolved.name}"
        try:
            return resolved.relative_to(self.xsd_dir).as_posix()
        except ValueError:  # an import outside the schema folder
            raise SchemaError(path, None, f"imported schema lies outside {self.given_dir}") from None

    def _schema_files(self, schemas: SchemaSet) -> dict[str, str]:
        """The compiled schemas, shipped in the package for validation."""
        out = {}
        for path in schemas.usable():
            rel = self._schema_path(path)

            def locate(target: Path, rel: str = rel) -> str:
                return os.path.relpath(self._schema_path(target), os.path.dirname(rel) or ".").replace(os.sep, "/")

            out[f"{self.package}/xsd/{rel}"] = schemas.files[path].package_text(locate)
        return out


def write(files: dict[str, str], out_dir: Path, package: str) -> list[str]:
    """Write the package under ``out_dir``; remove files it no longer has.

    Returns the relative paths that changed.
    """
    changed = drift(files, out_dir, package)
    root = out_dir / package
    for rel in changed:
        target = out_dir / rel
        if rel in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[rel], encoding="utf-8", newline="\n")
        elif target.exists():
            target.unlink()
    # Remove folders left empty by deletions.
    if root.exists():
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    return changed


def drift(files: dict[str, str], out_dir: Path, package: str) -> list[str]:
    """Relative paths whose content on disk differs from ``files``."""
    root = out_dir / package
    on_disk: set[str] = set()
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                on_disk.add(path.relative_to(out_dir).as_posix())
    changed = []
    for rel in sorted(on_disk | set(files)):
        path = out_dir / rel
        if rel not in files or rel not in on_disk:
            changed.append(rel)
        elif path.read_text(encoding="utf-8") != files[rel]:
            changed.append(rel)
    return changed
