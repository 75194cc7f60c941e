"""The platform methods of the local server, one module per family.

Each method is a function of the request :class:`~hvgen_server.context.Context`
that returns the response's info (a binding, a ``wc:info`` element, or None);
:mod:`hvgen_server.dispatch` lists them.
"""
