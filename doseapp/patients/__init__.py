"""A patient's dose history across modalities (pid role): finding the patient, their studies, the
cumulative fluoroscopy totals, the chart and the export."""
