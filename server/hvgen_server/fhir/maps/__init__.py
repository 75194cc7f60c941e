"""One module per thing type: each gives ``MAPPING``, a :class:`~..mapping.Mapping`.

:data:`MODULES` lists them; :mod:`..registry` offers those whose thing type
the server serves.
"""

MODULES: tuple[str, ...]
MODULES = ("weight", "height", "heart_rate", "blood_glucose", "blood_pressure", "imaging_study", "condition")
MODULES += ("document_reference", "ccr", "cda")
#: Clinical types and more measurements (a type's newest version first: imports make it when it is served).
MODULES += ("immunization", "allergy_intolerance", "procedure", "medication_statement", "medication_statement_v1")
MODULES += ("oxygen_saturation", "hba1c", "hba1c_v1", "body_dimension", "body_composition", "exercise", "peak_flow")
MODULES += ("cholesterol", "cholesterol_v1", "sleep_session", "immunization_v1", "procedure_v1")
MODULES += ("vital_signs", "sleep_pm", "lab_test_results")
