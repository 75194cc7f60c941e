"""Imaging workflows: DICOM folders to medical image studies on the platform and back."""
