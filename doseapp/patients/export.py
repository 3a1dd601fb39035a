"""A patient's history as CSV or XLSX: one row per study, newest first (NM with its radiopharmaceutical
and administered activity; CT and NM with their effective dose), with the running fluoroscopy totals. Small (one patient), so written in the request, in memory. It holds patient identifiers: the
route gives it only to users with an exporting role and pid, and audits each download."""
from __future__ import annotations

import csv
import datetime as dt
import io

import xlsxwriter

from doseapp.exports.csv_writer import cell
from doseapp.filters import DAP_DISPLAY_PER_STORED
from doseapp.patients.history import Row, running_totals

HEADERS = ("Patient ID", "Patient ID hashed", "Patient name", "Patient name hashed", "Study date", "Study time",
           "Modality", "System", "Study description", "Accession number", "Possible test data",
           "CT total DLP (mGy·cm)", "Total DAP (cGy·cm²)", "Total dose at RP (Gy)", "Peak skin dose (Gy)",
           "MG AGD both breasts (mGy)", "NM radiopharmaceutical", "NM administered activity (MBq)",
           "Effective dose (mSv; CT: population estimate, NM: as reported)",
           "Cumulative fluoroscopy DAP (cGy·cm²)", "Cumulative fluoroscopy dose at RP (Gy)", "Study instance UID")
KINDS = ("text", "text", "text", "text", "date", "time", "text", "text", "text", "text", "text",
         "num", "num", "num", "num", "num", "text", "num", "num", "num", "num", "text")


def table(rows: list[Row]) -> list[tuple]:
    """The export's rows as Python values (None for nothing recorded), in the order of `rows`."""
    running = {r.id: (dap, rp) for r, dap, rp in running_totals(rows)}
    out = []
    for r in rows:
        dap_sum, rp_sum = running.get(r.id, (None, None))
        out.append((r.patient_id, "Yes" if r.patient_id_hashed else "No" if r.patient_id else None,
                    r.patient_name, "Yes" if r.patient_name_hashed else "No" if r.patient_name else None,
                    r.study_date, r.study_time, r.modality, r.system, r.description,
                    r.accession_number, "Yes" if r.not_patient else "No", r.dlp_mgycm,
                    None if r.dap_gym2 is None else r.dap_gym2 * DAP_DISPLAY_PER_STORED, r.dose_rp_gy, r.psd_gy,
                    r.agd_mgy, r.radiopharmaceutical, r.activity_mbq, r.effective_dose_msv,
                    None if dap_sum is None else dap_sum * DAP_DISPLAY_PER_STORED, rp_sum, r.study_instance_uid))
    return out


def csv_bytes(rows: list[Row]) -> bytes:
    """UTF-8 with a BOM (Excel reads the unit symbols right); text that would be a formula neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADERS)
    writer.writerows([cell(v) for v in values] for values in table(rows))
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[Row], date_format: str = "dd/mm/yyyy") -> bytes:
    """One sheet; text written as text (never read as a formula), dates and times as Excel values."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet("Dose history")
    bold = wb.add_format({"bold": True})
    date_fmt, time_fmt = wb.add_format({"num_format": date_format}), wb.add_format({"num_format": "hh:mm:ss"})
    for c, h in enumerate(HEADERS):
        ws.write_string(0, c, h, bold)
    for i, values in enumerate(table(rows), start=1):
        for c, (v, kind) in enumerate(zip(values, KINDS)):
            if v is None:
                continue
            if kind == "num":
                ws.write_number(i, c, v)
            elif kind == "date":
                ws.write_datetime(i, c, dt.datetime.combine(v, dt.time()), date_fmt)
            elif kind == "time":
                ws.write_datetime(i, c, v, time_fmt)
            else:
                ws.write_string(i, c, str(v))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(1, len(rows)), len(HEADERS) - 1)
    wb.close()
    return out.getvalue()
