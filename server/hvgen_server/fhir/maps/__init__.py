"""One module per thing type: each gives ``MAPPING``, a :class:`~..mapping.Mapping`.

:data:`MODULES` lists them; :mod:`..registry` offers those whose thing type
the server serves.
"""

MODULES = ("weight", "height", "heart_rate", "blood_glucose", "blood_pressure", "imaging_study", "condition",
           "document_reference")  # fmt: skip
