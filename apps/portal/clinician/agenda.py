"""Mon agenda: availability slots by type (Schedule/Slot), month/week/day views, booking without
double-booking (one transaction: the Slot updated with If-Match, the Appointment created),
cancelling, and the list of upcoming appointments."""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.model import ACT_CODE, by_reference, entries, ref, ref_id
from apps.portal.clinician.patients import my_patients
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.filters import PARIS, parse_fhir_date
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render

V2_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"
SLOT_TYPES = {
    "teleconsultation": ("Téléconsultation", "VR", "ROUTINE"),
    "cabinet": ("Consultation au cabinet", "AMB", "ROUTINE"),
    "urgence": ("Urgence", "AMB", "EMERGENCY"),
}
TYPE_OPTIONS = [(key, label) for key, (label, _, _) in SLOT_TYPES.items()]
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
MAX_SLOTS = 400


@dataclass
class SlotView:
    slot: dict[str, Any]
    start: datetime
    end: datetime
    kind: str
    appointment: dict[str, Any] | None = None
    patient: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return SLOT_TYPES.get(self.kind, ("Créneau",))[0]


def slot_kind(slot: dict[str, Any]) -> str:
    appt = code_in(slot.get("appointmentType"), V2_0276)
    if appt == "EMERGENCY":
        return "urgence"
    service = next((code_in(s, ACT_CODE) for s in slot.get("serviceType", []) if code_in(s, ACT_CODE)), None)
    return "teleconsultation" if service == "VR" else "cabinet"


def code_in(concept: dict[str, Any] | None, system: str) -> str | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == system:
            return str(coding.get("code"))
    return None


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=PARIS)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


async def my_schedule(fhir: FhirClient, me: str, create: bool = False) -> dict[str, Any] | None:
    """The doctor's agenda (one Schedule whose actor is them), created on first use."""
    found = await fhir.search_resources("Schedule", {"actor": me, "active": "true"})
    if found or not create:
        return found[0] if found else None
    return await fhir.create(
        {
            "resourceType": "Schedule",
            "active": True,
            "actor": [ref(*me.split("/", 1))],
            "comment": "Agenda du praticien",
        }
    )


async def slots_between(
    fhir: FhirClient, schedule: dict[str, Any], start: datetime, end: datetime
) -> list[SlotView]:
    bundle = await fhir.search(
        "Slot",
        [
            ("schedule", f"Schedule/{schedule['id']}"),
            ("start", f"ge{iso(start)}"),
            ("start", f"lt{iso(end)}"),
            ("_sort", "start"),
            ("_count", "1000"),
        ],
    )
    views = []
    for slot in entries(bundle, "Slot"):
        s, e = parse_fhir_date(slot.get("start")), parse_fhir_date(slot.get("end"))
        if isinstance(s, datetime) and isinstance(e, datetime):
            views.append(SlotView(slot, s, e, slot_kind(slot)))
    return views


async def attach_appointments(
    fhir: FhirClient, me: str, views: list[SlotView], start: datetime, end: datetime
) -> None:
    bundle = await fhir.search(
        "Appointment",
        [
            ("actor", me),
            ("date", f"ge{iso(start)}"),
            ("date", f"lt{iso(end)}"),
            ("status", "booked,arrived,fulfilled,pending"),
            ("_include", "Appointment:patient"),
            ("_count", "1000"),
        ],
    )
    refs = by_reference(bundle)
    by_slot: dict[str, dict[str, Any]] = {}
    for appt in entries(bundle, "Appointment"):
        for slot_ref in appt.get("slot", []):
            by_slot[slot_ref.get("reference", "")] = appt
    for view in views:
        appt = by_slot.get(f"Slot/{view.slot['id']}")
        if appt is not None:
            view.appointment = appt
            patient_ref = next(
                (p["actor"]["reference"] for p in appt.get("participant", [])
                 if p.get("actor", {}).get("reference", "").startswith("Patient/")),
                "",
            )  # fmt: skip
            view.patient = refs.get(patient_ref)


def period(view: str, day: date) -> tuple[date, date]:
    if view == "mois":
        first = day.replace(day=1)
        return first, first + timedelta(days=calendar.monthrange(day.year, day.month)[1])
    if view == "semaine":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    return day, day + timedelta(days=1)


@router.get("/agenda")
async def agenda(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    view = request.query_params.get("vue", "semaine")
    view = view if view in ("mois", "semaine", "jour") else "semaine"
    try:
        day = date.fromisoformat(request.query_params.get("date", ""))
    except ValueError:
        day = date.today()
    first, after = period(view, day)
    schedule = await my_schedule(fhir, user.fhir_user)
    views: list[SlotView] = []
    if schedule is not None:
        start, end = local(first, time(0)), local(after, time(0))
        views = await slots_between(fhir, schedule, start, end)
        await attach_appointments(fhir, user.fhir_user, views, start, end)
    by_day: dict[date, list[SlotView]] = {}
    for v in views:
        by_day.setdefault(v.start.date(), []).append(v)
    step = {"mois": 31, "semaine": 7, "jour": 1}[view]
    prev_day = (first - timedelta(days=1)).replace(day=1) if view == "mois" else first - timedelta(days=step)
    days = [first + timedelta(days=i) for i in range((after - first).days)]
    patients = await my_patients(fhir, user.fhir_user) if view == "jour" else []
    return await render(
        request,
        "clinician/agenda.html",
        {
            "view": view,
            "day": day,
            "first": first,
            "days": days,
            "by_day": by_day,
            "prev": prev_day.isoformat(),
            "next": after.isoformat(),
            "today": date.today(),
            "weekdays": DAYS,
            "leading_blanks": first.weekday() if view == "mois" else 0,
            "patients": patients,
            "has_schedule": schedule is not None,
        },
    )


# -- availability -------------------------------------------------------------------------------


@router.get("/agenda/disponibilites")
async def availability_form(request: Request, user: Practitioner) -> Response:
    return await render(request, "clinician/availability.html", {"types": TYPE_OPTIONS, "weekdays": DAYS})


def plan_slots(
    values: dict[str, str], days: list[str]
) -> tuple[list[tuple[datetime, datetime]], dict[str, str]]:
    errors: dict[str, str] = {}
    if values.get("type") not in SLOT_TYPES:
        errors["type"] = "Choisissez le type de créneau."
    try:
        first = date.fromisoformat(values.get("du", ""))
        last = date.fromisoformat(values.get("au", "") or values.get("du", ""))
    except ValueError:
        errors["du"] = "Dates invalides."
        return [], errors
    if last < first:
        errors["au"] = "La date de fin précède la date de début."
    if first < date.today():
        errors["du"] = "Les disponibilités commencent aujourd'hui au plus tôt."
    if (last - first).days > 92:
        errors["au"] = "Trois mois au plus à la fois."
    try:
        h0 = time.fromisoformat(values.get("debut", ""))
        h1 = time.fromisoformat(values.get("fin", ""))
        if h1 <= h0:
            errors["fin"] = "L'heure de fin doit suivre l'heure de début."
    except ValueError:
        errors["debut"] = "Heures invalides (hh:mm)."
        return [], errors
    try:
        minutes = int(values.get("duree", ""))
        if not 5 <= minutes <= 120:
            raise ValueError
    except ValueError:
        errors["duree"] = "Durée d'un créneau : de 5 à 120 minutes."
        return [], errors
    weekdays = {int(d) for d in days if d.isdigit() and 0 <= int(d) <= 6}
    if not weekdays:
        errors["jours"] = "Cochez au moins un jour de la semaine."
    if errors:
        return [], errors
    planned = []
    day = first
    while day <= last:
        if day.weekday() in weekdays:
            moment = local(day, h0)
            stop = local(day, h1)
            while moment + timedelta(minutes=minutes) <= stop:
                planned.append((moment, moment + timedelta(minutes=minutes)))
                moment += timedelta(minutes=minutes)
        day += timedelta(days=1)
    if not planned:
        errors["jours"] = "Aucun créneau dans cette période pour ces jours et ces heures."
    elif len(planned) > MAX_SLOTS:
        errors["au"] = f"{len(planned)} créneaux : {MAX_SLOTS} au plus à la fois, réduisez la période."
    return planned, errors


@router.post("/agenda/disponibilites")
async def create_availability(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    raw = await form_data(request)
    values = form_dict(raw)
    days = [str(d) for d in raw.getlist("jours")]
    planned, errors = plan_slots(values, days)
    form = FormState(values, errors)
    ctx = {"types": TYPE_OPTIONS, "weekdays": DAYS, "checked_days": days}
    if not form:
        schedule = await my_schedule(fhir, user.fhir_user, create=True)
        assert schedule is not None
        existing = await slots_between(fhir, schedule, planned[0][0], planned[-1][1])
        clash = next(
            ((s, e) for s, e in planned for v in existing
             if s < v.end and v.start < e and v.slot.get("status") != "entered-in-error"),
            None,
        )  # fmt: skip
        if clash:
            form.error("debut", f"Ces créneaux chevauchent votre agenda le {clash[0]:%d/%m/%Y à %Hh%M}.")
    if form:
        return await render(request, "clinician/availability.html", ctx, status_code=422, form=form)
    label, service, appt_type = SLOT_TYPES[values["type"]]
    tx = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {
                "resourceType": "Slot",
                "schedule": ref("Schedule", schedule["id"]),
                "status": "free",
                "start": iso(s),
                "end": iso(e),
                "serviceType": [{"coding": [{"system": ACT_CODE, "code": service}], "text": label}],
                "appointmentType": {"coding": [{"system": V2_0276, "code": appt_type}]},
            },
            "request": {"method": "POST", "url": "Slot"},
        }
        for s, e in planned
    ]
    await fhir.transaction(tx)
    await flash(request, f"{len(planned)} créneaux « {label} » ajoutés à votre agenda.", "succes")
    return redirect(f"/agenda?vue=semaine&date={planned[0][0].date().isoformat()}")


# -- booking ------------------------------------------------------------------------------------


async def _own_slot(fhir: FhirClient, me: str, slot_id: str) -> dict[str, Any]:
    slot = await fhir.read("Slot", slot_id)
    schedule = await my_schedule(fhir, me)
    if schedule is None or ref_id(slot.get("schedule"), "Schedule") != schedule["id"]:
        raise HTTPException(404, "Créneau introuvable dans votre agenda.")
    return slot


@router.post("/agenda/creneaux/{slot_id}/reserver")
async def book(request: Request, slot_id: str, user: Practitioner, fhir: Fhir) -> Response:
    values = form_dict(await form_data(request))
    slot = await _own_slot(fhir, user.fhir_user, slot_id)
    day = (parse_fhir_date(slot.get("start")) or datetime.now(PARIS)).date().isoformat()  # type: ignore[union-attr]
    back = f"/agenda?vue=jour&date={day}"
    patient_id = values.get("patient", "")
    if not patient_id:
        await flash(request, "Choisissez le patient du rendez-vous.", "erreur")
        return redirect(back)
    if slot.get("status") != "free":
        await flash(request, "Ce créneau n'est plus libre.", "erreur")
        return redirect(back)
    patient = await fhir.read("Patient", patient_id)  # 404 unless the doctor reaches this patient
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "serviceType": slot.get("serviceType", []),
        "appointmentType": slot.get("appointmentType"),
        "description": values.get("motif", "")[:500] or None,
        "start": slot["start"],
        "end": slot["end"],
        "slot": [ref("Slot", slot_id)],
        "created": date.today().isoformat(),
        "participant": [
            {"actor": ref(*user.fhir_user.split("/", 1)), "status": "accepted", "required": "required"},
            {"actor": ref("Patient", patient["id"]), "status": "accepted", "required": "required"},
        ],
    }
    appointment = {k: v for k, v in appointment.items() if v is not None}
    try:
        await fhir.transaction(
            [
                {"resource": {**slot, "status": "busy"},
                 "request": {"method": "PUT", "url": f"Slot/{slot_id}", "ifMatch": version_etag(slot)}},
                {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": appointment,
                 "request": {"method": "POST", "url": "Appointment"}},
            ]
        )  # fmt: skip
    except FhirError as exc:
        if exc.status in (409, 412):
            await flash(
                request,
                "Ce créneau vient d'être réservé par quelqu'un d'autre : choisissez-en un autre.",
                "erreur",
            )
            return redirect(back)
        raise
    await flash(request, "Rendez-vous enregistré.", "succes")
    return redirect(back)


@router.post("/agenda/rendez-vous/{appointment_id}/annuler")
async def cancel(request: Request, appointment_id: str, user: Practitioner, fhir: Fhir) -> Response:
    appointment = await fhir.read("Appointment", appointment_id)
    if not any(
        p.get("actor", {}).get("reference") == user.fhir_user for p in appointment.get("participant", [])
    ):
        raise HTTPException(404, "Rendez-vous introuvable.")
    if appointment.get("status") == "cancelled":
        await flash(request, "Ce rendez-vous est déjà annulé.", "info")
        return redirect("/centre/rendez-vous")
    tx: list[dict[str, Any]] = [
        {"resource": {**appointment, "status": "cancelled",
                      "cancelationReason": {"text": "Annulé par le praticien"}},
         "request": {"method": "PUT", "url": f"Appointment/{appointment_id}",
                     "ifMatch": version_etag(appointment)}},
    ]  # fmt: skip
    for slot_ref in appointment.get("slot", []):
        slot_id = ref_id(slot_ref, "Slot")
        if slot_id:
            slot = await _own_slot(fhir, user.fhir_user, slot_id)
            tx.append(
                {"resource": {**slot, "status": "free"},
                 "request": {"method": "PUT", "url": f"Slot/{slot_id}", "ifMatch": version_etag(slot)}}
            )  # fmt: skip
    try:
        await fhir.transaction(tx)
    except FhirError as exc:
        if exc.status in (409, 412):
            await flash(request, "Le rendez-vous a été modifié entre-temps : rechargez la page.", "erreur")
            return redirect("/centre/rendez-vous")
        raise
    await flash(request, "Rendez-vous annulé : le créneau est de nouveau libre.", "succes")
    return redirect("/centre/rendez-vous")


@router.get("/centre/rendez-vous")
async def appointments(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    now = datetime.now(PARIS).replace(microsecond=0)
    bundle = await fhir.search(
        "Appointment",
        [
            ("actor", user.fhir_user),
            ("date", f"ge{iso(now - timedelta(hours=2))}"),
            ("status", "booked,arrived,pending"),
            ("_include", "Appointment:patient"),
            ("_sort", "date"),
            ("_count", "100"),
        ],
    )
    refs = by_reference(bundle)
    rows = []
    for appt in entries(bundle, "Appointment"):
        patient_ref = next(
            (p["actor"]["reference"] for p in appt.get("participant", [])
             if p.get("actor", {}).get("reference", "").startswith("Patient/")),
            "",
        )  # fmt: skip
        kind = slot_kind(appt)  # an Appointment carries the same serviceType / appointmentType
        rows.append({"appointment": appt, "patient": refs.get(patient_ref), "kind": SLOT_TYPES[kind][0]})
    return await render(request, "clinician/appointments.html", {"rows": rows})
