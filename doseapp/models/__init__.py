"""SQLAlchemy models, one module per domain. Importing this package registers every table."""
from doseapp.models.base import db
from doseapp.models.equipment import Equipment
from doseapp.models.study import Study, ProcessedObject, QuarantinedObject
from doseapp.models.ct import CtEvent, CtSource
from doseapp.models.projection import XrayEvent, AccumulatedPlane, BreastDose
from doseapp.models.nm import NmAdministration, NmSeries
from doseapp.models.settings import SystemSettings, NotPatientPattern
from doseapp.models.dicomnet import (
    DicomStoreScp, DicomRemoteNode, DicomQuery, DicomQueryStudy, DicomQuerySeries,
    DicomQueryImage, DicomTransaction, DicomAllowedAe, DicomPendingObject, DicomScheduledQuery,
    DicomStoredStudy, DicomStoredSeries, DicomStoredInstance,
)
from doseapp.models.jobs import Job
from doseapp.models.users import LoginAttempt, User, UserRole, UserPreferences
from doseapp.models.audit import AuditEntry
from doseapp.models.api_tokens import ApiToken
from doseapp.models.skin import SkinDoseMap
from doseapp.models.standards import ReferenceLevel, StandardName, StandardNameRule
from doseapp.models.alerts import Alert, AlertRule, AlertSubscription, EmailMessage, EmailMessageAlert

__all__ = [
    "db", "Equipment", "Study", "ProcessedObject", "QuarantinedObject", "CtEvent", "CtSource",
    "XrayEvent", "AccumulatedPlane", "BreastDose", "NmAdministration", "NmSeries", "SystemSettings", "NotPatientPattern",
    "DicomStoreScp", "DicomRemoteNode", "DicomQuery", "DicomQueryStudy", "DicomQuerySeries",
    "DicomQueryImage", "DicomTransaction", "DicomAllowedAe", "DicomPendingObject", "DicomScheduledQuery",
    "DicomStoredStudy", "DicomStoredSeries", "DicomStoredInstance", "Job", "User", "UserRole", "UserPreferences", "LoginAttempt",
    "AuditEntry", "ApiToken", "SkinDoseMap", "StandardName", "StandardNameRule", "ReferenceLevel",
    "Alert", "AlertRule", "AlertSubscription", "EmailMessage", "EmailMessageAlert",
]
