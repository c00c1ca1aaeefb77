#!/usr/bin/env python3
"""Writes demo.ndjson: a small, fixed demo population in the import format (deterministic)."""
import json
import random
import uuid
from datetime import date, timedelta

rng = random.Random(2015)
NS = uuid.UUID("0193c5a0-0000-7000-8000-000000000000")
DISTRICTS = ["Lebenstedt", "Bad", "Thiede", "Fredenberg", "Gebhardshagen", "Salder"]
NATIONALITIES = [("SYR", "ar"), ("AFG", "fa"), ("IRQ", "ar"), ("ERI", "ti"), ("UKR", "uk")]
counter = 0


def new_id():
    global counter
    counter += 1
    return str(uuid.uuid5(NS, f"demo-event-{counter}"))


def line(person, kind, day, data, agency="jobcenter"):
    return {
        "stream": f"person-{person}",
        "id": new_id(),
        "type": kind,
        "version": 2 if kind == "EmploymentStarted" else 1,
        "occurred_on": day.isoformat(),
        "actor": {"id": f"cw-{agency[:2]}-{rng.randint(1, 9):02d}", "agency": agency, "role": "caseworker"},
        "data": data,
    }


lines = []
for n in range(40):
    person = uuid.uuid5(NS, f"demo-person-{n}")
    arrived = date(2015, 9, 1) + timedelta(days=rng.randint(0, 3000))
    nationality, language = rng.choice(NATIONALITIES)
    lines.append(line(person, "PersonRegistered", arrived, {
        "birth_year": rng.randint(1965, 2003), "sex": rng.choice(["female", "male"]),
        "nationality": nationality, "languages": [language]}, "kommune"))
    lines.append(line(person, "ArrivalRecorded", arrived, {
        "origin": "reception_centre", "accommodation": "shared", "district": rng.choice(DISTRICTS)}, "kommune"))
    day = arrived + timedelta(days=rng.randint(10, 60))
    lines.append(line(person, "CourseEntitlementIssued", day, {"kind": "entitlement", "issuer": "bamf"}))
    course = f"IK-{day.year}-{n:03d}"
    day += timedelta(days=rng.randint(5, 30))
    lines.append(line(person, "CourseRegistered", day, {
        "course_id": course, "course_type": rng.choice(["general", "alpha"]), "provider": "VHS Salzgitter"}))
    day += timedelta(days=rng.randint(30, 90))
    lines.append(line(person, "CourseStarted", day, {"course_id": course}))
    day += timedelta(days=rng.randint(180, 300))
    if rng.random() < 0.62:
        lines.append(line(person, "CourseCompleted", day, {"course_id": course}))
        lines.append(line(person, "LanguageTestTaken", day + timedelta(days=7), {
            "exam": "dtz", "level": rng.choice(["b1", "b1", "a2", "below_a2"]), "first_attempt": True}))
    else:
        lines.append(line(person, "CourseLeftEarly", day, {"course_id": course, "reason": "childcare"}))
    if rng.random() < 0.5:
        day += timedelta(days=rng.randint(60, 500))
        lines.append(line(person, "EmploymentStarted", day, {
            "employment_id": f"E-{n}", "kind": "social_insurance_full", "weekly_hours": 39}))

lines.sort(key=lambda event: event["occurred_on"])
with open("demo.ndjson", "w") as out:
    for event in lines:
        out.write(json.dumps(event, sort_keys=True) + "\n")
print(f"wrote {len(lines)} events for 40 persons")
