"""hvgen: the build step that compiles a schema set into a typed package.

``hvgen generate`` (the command is :mod:`hvgen_cli`'s) runs
:class:`~hvgen.codegen.compiler.Compiler` over ``xsd/``, ``templates/`` and
``runtime/`` and writes ``generated/healthvault``. This package imports the
runtime (``healthvault``) and nothing else of the project.

Modules:

    codegen/         the pipeline: schemaset, schemafile (load and check the
                     schemas), bindings, specs, automaton (class models to
                     binding specifications), runtime, exceptiontree (the
                     runtime modules a schema set supports), compiler,
                     formatting, outputcache (write or compare the output)
    sources          where the inputs are: the checkout, or the package data
    schemapackages   schema folders compiled for ``hvgen serve --schemas``
    errors           the exceptions below

Exceptions (each class with the module defining it)::

    GeneratorError       errors
    ├── SchemaError      errors
    │   └── SchemaSetError  errors
    ├── SchemaFolderError  schemapackages
    └── SourcesNotFound  sources
"""

__version__ = "0.1.0"
