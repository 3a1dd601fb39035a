"""DICOM networking: our Store SCP, its supervisor, and query-retrieve."""
