"""Remote DICOM nodes (``hvgen dicom node``)."""

from __future__ import annotations

from dataclasses import astuple, fields

from ..dicomtables import DicomNodeTable
from ..rows import DIMSE, DicomNode
from .dialect import SqlTable, columns, marks

_NODE = columns(DicomNode)


class DicomNodes(SqlTable, DicomNodeTable):
    def put(self, node: DicomNode) -> bool:
        new = self.db.run("DELETE FROM dicom_nodes WHERE name = ?", (node.name,)) == 0
        self.db.run(f"INSERT INTO dicom_nodes({_NODE}) VALUES ({marks(len(fields(DicomNode)))})", astuple(node))
        return new

    def get(self, name: str) -> DicomNode | None:
        row = self.db.one(f"SELECT {_NODE} FROM dicom_nodes WHERE name = ?", (name,))
        return None if row is None else DicomNode(*row)

    def by_ae_title(self, ae_title: str) -> DicomNode | None:
        row = self.db.one(
            f"SELECT {_NODE} FROM dicom_nodes WHERE kind = ? AND ae_title = ? "
            f"ORDER BY name{self.db.dialect.bytewise} LIMIT 1",
            (DIMSE, ae_title),
        )
        return None if row is None else DicomNode(*row)

    def all(self) -> list[DicomNode]:
        rows = self.db.all(f"SELECT {_NODE} FROM dicom_nodes ORDER BY name{self.db.dialect.bytewise}")
        return [DicomNode(*r) for r in rows]

    def remove(self, name: str) -> bool:
        return self.db.run("DELETE FROM dicom_nodes WHERE name = ?", (name,)) > 0
