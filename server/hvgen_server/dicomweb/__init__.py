"""DICOMweb (PS3.18) for the record a bearer token names, at ``/dicomweb``.

* :mod:`.bearer`: the tokens ``hvgen token`` prints (CreateDicomWebToken);
* :mod:`.gateway`: the platform's own application, through which STOW-RS
  writes studies as ``hvgen study upload`` does;
* :mod:`.index`: the DICOM attributes of study things, kept in the store's
  DICOM index for queries and retrieval;
* :mod:`.qido`, :mod:`.wado`, :mod:`.stow`: the three services;
* :mod:`.routes`: the HTTP routes (Starlette).

This package imports nothing heavy; :mod:`.routes` needs the imaging extra.
"""
