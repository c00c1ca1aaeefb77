//! The German wording of every indicator: title, definition and denominator, for the council
//! report and `schemas/kpis.json` (`title_de`, `definition_de`, `denominator_de`). The English
//! text in [`super::catalogue`] is the contract; this is its translation, kept beside it so that
//! both languages come from one place. Event and field names stay as they are on the wire
//! (`CourseStarted`, `first_attempt`), because they name the data, not the language. A test fails
//! when an indicator of the catalogue has no German text.

/// An indicator's German title, definition and denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct German {
    pub title: &'static str,
    pub definition: &'static str,
    pub denominator: &'static str,
}

const fn de(title: &'static str, definition: &'static str, denominator: &'static str) -> German {
    German {
        title,
        definition,
        denominator,
    }
}

/// The German text of the indicator `key`, `None` for a key the catalogue does not have.
pub fn german(key: &str) -> Option<German> {
    Some(match key {
        "population_present" => de(
            "Anwesende Bevölkerung",
            "Am Stichtag D anwesende Personen. Anwesend an D: ein ArrivalRecorded am oder vor D und danach kein MovedAway am oder vor D; eine Rückkehr (ein neues ArrivalRecorded) beginnt einen neuen Aufenthalt. Gelöschte Personen zählen nie.",
            "keiner: eine Zahl der an D anwesenden Personen",
        ),
        "course_waiting_days" => de(
            "Wartezeit auf einen Integrationskurs (BAMF-Wartezeit)",
            "Tage von CourseRegistered bis CourseStarted für jeden Integrationskurs, der in den 12 Monaten bis D begann (nach D minus 12 Monate, am oder vor D). Integrationskurs: jeder course_type außer job_b1, job_b2 und job_c1. Ein nach seinem Ende erneut angemeldeter Kurs (Wiedereinstieg) zählt erneut. Mediane und 75. Perzentile werden linear zwischen den nächsten Rängen interpoliert. Die Verteilung: die Anteile dieser Kursbeginne mit einer Wartezeit von 0 bis 28, 29 bis 56, 57 bis 91 und mehr als 91 Tagen (ein Histogramm der Wartetage; die Geheimhaltung entscheidet über die Bänder gemeinsam).",
            "Beginne von Integrationskursen in den 12 Monaten bis D",
        ),
        "course_access_days" => de(
            "Zugangszeit zu einem Integrationskurs (BAMF-Zugangszeit)",
            "Tage vom ersten CourseEntitlementIssued einer Person bis zu ihrem ersten CourseStarted eines Integrationskurses, für Personen, deren erster Integrationskursbeginn in den 12 Monaten bis D liegt. Personen, deren erste Berechtigung nach diesem Beginn liegt (oder die keine haben), bleiben außen vor. Mediane und 75. Perzentile werden linear zwischen den nächsten Rängen interpoliert.",
            "Personen, deren erster Integrationskursbeginn in den 12 Monaten bis D liegt und die bis dahin berechtigt waren",
        ),
        "course_participation_rate" => de(
            "Teilnahme an Integrationskursen",
            "Von den an D anwesenden Personen, deren erstes CourseEntitlementIssued am oder vor D minus 6 Monate liegt, der Anteil, der am oder vor D einen Integrationskurs begonnen hat.",
            "an D anwesende Personen mit einer ersten Kursberechtigung mindestens 6 Monate vor D",
        ),
        "course_completion_rate" => de(
            "Abschluss von Integrationskursen",
            "Von den Integrationskursen, die 12 bis 24 Monate vor D begannen (Beginn nach D minus 24 Monate und am oder vor D minus 12 Monate), die Anteile: abgeschlossen am oder vor D (CourseCompleted), vorzeitig verlassen am oder vor D (CourseLeftEarly), beendet durch Wegzug am oder vor D (offen am Tag eines MovedAway, auch bei späterer Rückkehr) und an D noch offen. Jede begonnene Anmeldung zählt einmal; ein Wiedereinstieg ist ein eigener Kurs.",
            "Integrationskurse, die 12 bis 24 Monate vor D begannen",
        ),
        "dtz_b1_rate" => de(
            "Ergebnisse im Deutsch-Test für Zuwanderer (DTZ)",
            "Von den LanguageTestTaken mit exam dtz in den 12 Monaten bis D die Anteile mit b1 oder besser, mit a2 und unter a2; für alle Ergebnisse und nur für Erstversuche (first_attempt true). Jedes Ergebnis zählt.",
            "DTZ-Ergebnisse in den 12 Monaten bis D (Erstversuche: die mit first_attempt)",
        ),
        "employment_rate" => de(
            "Beschäftigungsquote",
            "Von den an D anwesenden Personen im erwerbsfähigen Alter (15 bis 64 Jahre an D, Alter = Jahr(D) - Geburtsjahr) der Anteil mit einer an D offenen Beschäftigung der Art social_insurance_full, social_insurance_part oder self_employed. Minijobs werden getrennt ausgewiesen: der Anteil, dessen an D offene Beschäftigungen nur geringfügig sind, sodass beide Anteile zusammen den Anteil mit irgendeiner Beschäftigung ergeben. Personen mit unbekanntem Geburtsjahr bleiben außen vor; die Metadaten zählen sie.",
            "an D anwesende Personen im erwerbsfähigen Alter",
        ),
        "employment_by_years_since_arrival" => de(
            "Beschäftigungsquote nach Jahren seit Ankunft",
            "employment_rate nach years_since_arrival (volle Jahre von der ersten Ankunft bis D; ein Jahr zählt ab seinem Jahrestag), für die Jahre 0 bis 10: die Kohortenkurve. Personen mehr als 10 volle Jahre nach ihrer ersten Ankunft liegen außerhalb dieses Indikators, die Summe umfasst also die Jahre 0 bis 10. years_since_arrival ist immer die erste Dimension; eine weitere kann hinzukommen (etwa das Geschlecht).",
            "an D anwesende Personen im erwerbsfähigen Alter, 0 bis 10 volle Jahre nach ihrer ersten Ankunft",
        ),
        "employment_by_years_since_entry" => de(
            "Beschäftigungsquote nach Jahren seit Einreise",
            "employment_rate nach years_since_entry (volle Jahre von der Einreise nach Deutschland bis D; ein Jahr zählt ab seinem Jahrestag), für die Jahre 0 bis 10: die Kohortenkurve, wie IAB und IAB-BAMF-SOEP-Befragung sie veröffentlichen, gezählt ab der Einreise nach Deutschland statt ab der Ankunft in der Kommune. Die Einreise ist das entry_date des ersten ArrivalRecorded der Person; wo es fehlt (oder nach dieser Ankunft liegt), steht die erste Ankunft dafür, und die Metadaten der Antwort zählen diese Personen (entry_date_fallbacks). Personen mehr als 10 volle Jahre nach ihrer Einreise liegen außerhalb dieses Indikators, die Summe umfasst also die Jahre 0 bis 10. years_since_entry ist immer die erste Dimension; eine weitere kann hinzukommen (etwa das Geschlecht).",
            "an D anwesende Personen im erwerbsfähigen Alter, 0 bis 10 volle Jahre nach ihrer Einreise nach Deutschland",
        ),
        "sgb2_integration_rate" => de(
            "Integrationsquote SGB II (nach Art der Kennzahl K2)",
            "Integrationen in den 12 Monaten bis D geteilt durch die durchschnittliche Zahl der Personen mit offenen sgb2-Leistungen an den 12 Monatsenden bis D (die letzten Tage der 12 Monate, die am oder vor D enden: für D = 2024-12-31 sind es 2024-01-31 bis 2024-12-31, für D = 2024-12-15 sind es 2023-12-31 bis 2024-11-30). Eine Person gehört zum Bestand eines Monatsendes, wenn an diesem Tag sgb2-Leistungen offen sind und sie anwesend ist. Eine Integration ist der Beginn einer Beschäftigung der Art social_insurance_full, social_insurance_part oder self_employed oder einer Ausbildung durch eine Person mit offenen sgb2-Leistungen am Tag des Beginns oder am Vortag; höchstens eine je Person und Kalendermonat.",
            "die Summe der 12 Monatsendbestände an sgb2-Beziehenden (Personenmonate); die Quote ist Zähler / (Nenner / 12)",
        ),
        "idle_days" => de(
            "Leerlaufzeit",
            "Für an D anwesende Personen im erwerbsfähigen Alter ohne aktive Tätigkeit an D und ohne Kind unter 3 Jahren im Haushalt an D: Tage vom späteren Zeitpunkt aus dem Ende ihrer letzten Tätigkeit und dem Beginn ihres jetzigen Aufenthalts (Ankunft oder Rückkehr) bis D. Aktiv an D: ein offener Kurs (begonnen, nicht abgeschlossen oder verlassen), eine Maßnahme, Ausbildung, Beschäftigung jeder Art, ein Schulbesuch oder Kitaplatz; eine an D endende Zeit ist an D nicht mehr aktiv. Ein Kind unter 3: ein anderes Mitglied desselben Haushalts (household_id), am oder vor D registriert, an D 0 bis 2 Jahre alt, an D anwesend oder ganz ohne erfasste Ankunft (hier geboren). Median, 75. Perzentil und der Anteil über 90 Tage, jeweils über diese Personen im Leerlauf. Personen mit unbekanntem Geburtsjahr bleiben außen vor (die Metadaten zählen die an D anwesenden), und ein Haushaltsmitglied mit unbekanntem Geburtsjahr gilt nicht als Kind unter 3.",
            "an D anwesende Personen im erwerbsfähigen Alter im Leerlauf, ohne Kind unter 3 im Haushalt",
        ),
        "idle_list" => de(
            "Leerlaufliste",
            "Die Arbeitsliste hinter idle_days: Personen, die an D mehr als N Tage im Leerlauf sind (wie in idle_days), die längsten zuerst, bei Gleichstand nach Personenkennung. Wie idle_days lässt sie Personen mit unbekanntem Geburtsjahr aus, da ihr erwerbsfähiges Alter nicht feststellbar ist. Personenbezogen und nur für Fallbearbeitende: das Lesemodell idle_list, nie ein Aggregat.",
            "keiner: eine Liste von Personen",
        ),
        "kita_rate" => de(
            "Kita-Besuch",
            "Von den an D anwesenden Kindern im Alter von 0 bis 2 Jahren (rate_0_2) und von 3 bis 5 Jahren (rate_3_5) an D (Alter = Jahr(D) - Geburtsjahr) der Anteil mit einem an D offenen Kitaplatz (KitaStarted am oder vor D, kein KitaEnded am oder vor D). Personen mit unbekanntem Geburtsjahr bleiben außen vor; die Metadaten zählen die an D anwesenden.",
            "an D anwesende Kinder von 0 bis 2 und von 3 bis 5 Jahren",
        ),
        "school_rate" => de(
            "Schulbesuch und Sprachlernklassen",
            "Von den an D anwesenden Kindern im Alter von 6 bis 15 Jahren an D der Anteil, der an D eine Schule besucht (SchoolEnrolled am oder vor D, kein SchoolLeft am oder vor D). Außerdem über jedes MovedToRegularClass in den 12 Monaten bis D aus einer Anmeldung mit language_class (ob die Schülerin oder der Schüler noch anwesend ist oder nicht) Median und 75. Perzentil der Tage von SchoolEnrolled bis MovedToRegularClass. Personen mit unbekanntem Geburtsjahr bleiben beim Anteil außen vor (die Metadaten zählen die an D anwesenden), nicht bei den Dauern.",
            "an D anwesende Kinder von 6 bis 15 Jahren; für die Dauern die Wechsel in eine Regelklasse in den 12 Monaten bis D",
        ),
        "recognition_outcomes" => de(
            "Anerkennung ausländischer Berufsqualifikationen",
            "Von den RecognitionDecided in den 12 Monaten bis D die Anteile nach Ergebnis (full, partial, compensation_measure, negative) sowie Median und 75. Perzentil der Tage von RecognitionApplied bis zur Entscheidung. Eine Entscheidung nennt keinen Beruf; sie schließt daher den offenen Antrag der Person mit dem frühesten Datum.",
            "Anerkennungsentscheidungen in den 12 Monaten bis D",
        ),
        "mentoring_coverage" => de(
            "Abdeckung durch Mentoring",
            "Von den an D anwesenden Personen der Anteil mit einer an D aktiven Mentorin oder einem aktiven Mentor (MentorAssigned am oder vor D, kein MentoringEnded für diese Person am oder vor D).",
            "an D anwesende Personen",
        ),
        "chain_funnel" => de(
            "Präventionskette",
            "Nach Ankunftsjahrgang (arrival_cohort, das Jahr der ersten Ankunft, immer die erste Dimension): von den Personen, deren erste Ankunft am oder vor D liegt, ob an D anwesend oder nicht, der Anteil, der jede Stufe am oder vor D erreicht hat: Ankunft (erstes ArrivalRecorded), Berechtigung (erstes CourseEntitlementIssued), Kurs (erstes CourseStarted eines Sprachkurses), b1 (erstes LanguageTestTaken einer Prüfung mit b1 oder besser), Maßnahme oder Ausbildung (erstes MeasureStarted oder TrainingStarted), Beschäftigung (erstes EmploymentStarted der Art social_insurance_full, social_insurance_part oder self_employed). Die Stufen müssen nicht der Reihe nach erreicht werden. Zwischen aufeinanderfolgenden Stufen: Median und 75. Perzentil der Tage, über Personen, die bis D beide erreicht haben, die spätere am oder nach der früheren.",
            "Personen mit erster Ankunft am oder vor D; für die Dauern Personen, die beide Stufen der Reihe nach erreicht haben",
        ),
        "promising_applicants" => de(
            "Erfolgversprechende Bewerberinnen und Bewerber (gemeinsames Fallmanagement)",
            "Erfolgversprechend ist an einem Tag eine Person, die an diesem Tag mehr als N = 90 Tage im Leerlauf ist (wie in idle_days: erwerbsfähiges Alter, anwesend, keine aktive Tätigkeit, also insbesondere keine sozialversicherungspflichtige noch eine andere Beschäftigung, und kein Kind unter 3 im Haushalt) und am oder vor diesem Tag qualifiziert ist: ein LanguageTestTaken einer Prüfung mit b1 oder besser, ein RecognitionDecided full oder partial, ein TrainingEnded completed oder ein MeasureEnded completed. Eine Person kommt am ersten Tag einer Leerlaufzeit auf die Liste, an dem das zutrifft: dem späteren aus dem ersten Tag mit mehr als 90 Tagen Leerlauf und dem Tag der ersten Qualifikation (scheitert an diesem Tag eine Alters- oder Haushaltsbedingung, bleibt die Leerlaufzeit außen vor). persons: die an D Erfolgversprechenden. share_placed_within_6_months: von den Personen, die nach D minus 18 Monate und am oder vor D minus 6 Monate auf die Liste kamen (ihr erster solcher Eintrag, sodass bis D sechs Monate vergangen sind), der Anteil, der am oder nach dem Eintrag und höchstens 6 Monate danach eine Beschäftigung der Art social_insurance_full, social_insurance_part oder self_employed begann, ob an D noch anwesend oder nicht. Beide werden nach den Dimensionswerten der Person an D geschnitten. Personen mit unbekanntem Geburtsjahr bleiben außen vor; die Metadaten zählen die an D anwesenden.",
            "keiner für den Bestand; für den Anteil die Personen, die 6 bis 18 Monate vor D auf die Liste kamen",
        ),
        "orientation_test_pass_rate" => de(
            "Bestehensquote im Test „Leben in Deutschland“ (Orientierungskurs)",
            "Von den OrientationTestTaken in den 12 Monaten bis D der Anteil mit passed true. Jedes Ergebnis zählt, Wiederholungen eingeschlossen.",
            "Ergebnisse des Orientierungskurstests in den 12 Monaten bis D",
        ),
        "school_leaving_certificates" => de(
            "Schulabschlüsse",
            "Von den SchoolLeft in den 12 Monaten bis D die Anteile nach Abschluss: none, hauptschule, realschule, abitur, unknown. Ein durch Wegzug beendeter Schulbesuch ist kein Schulabgang. Jeder Abgang zählt.",
            "Schulabgänge in den 12 Monaten bis D",
        ),
        "school_to_training_transition" => de(
            "Von der Sprachlernklasse in die Ausbildung",
            "Von den Personen, deren erstes SchoolEnrolled mit language_class true am oder vor D liegt, ob an D anwesend oder nicht, der Anteil, der bis D (und nicht vor dieser Anmeldung) jeden Schritt erreicht hat: ein MovedToRegularClass, ein SchoolLeft, ein SchoolLeft mit einem Abschluss außer none oder unknown, ein TrainingStarted. Die Schritte müssen nicht der Reihe nach kommen und überschneiden sich, jeder Anteil steht also für sich.",
            "Personen, die am oder vor D erstmals in einer Sprachlernklasse angemeldet wurden",
        ),
        "training_outcomes" => de(
            "Berufsausbildung: Abschluss und Abbruch",
            "Von den in den 12 Monaten bis D beendeten Ausbildungen die Anteile, beendet durch TrainingEnded completed, durch TrainingEnded aborted (der Abbruch) und durch Wegzug der oder des Auszubildenden während der offenen Ausbildung. Jede Ausbildung zählt.",
            "in den 12 Monaten bis D beendete Ausbildungen",
        ),
        "measure_outcomes" => de(
            "Maßnahmen: Ergebnisse",
            "Von den in den 12 Monaten bis D beendeten Maßnahmen (MeasureStarted, jeder measure_type) die Anteile, beendet durch MeasureEnded completed, durch MeasureEnded aborted und durch Wegzug während der offenen Maßnahme. Jede Maßnahme zählt.",
            "in den 12 Monaten bis D beendete Maßnahmen",
        ),
        "course_reentry" => de(
            "Wiedereinstieg in einen Integrationskurs nach vorzeitigem Verlassen",
            "Von den Integrationskursen, die 12 bis 24 Monate vor D vorzeitig verlassen wurden (CourseLeftEarly mit einem anderen Grund als moved; nach D minus 24 Monate, am oder vor D minus 12 Monate), der Anteil, nach dem sich die Person erneut für einen Integrationskurs anmeldete (ein Wiedereinstieg: ein CourseRegistered eines Integrationskurses nach dem vorzeitigen Verlassen eines Integrationskurses) am oder nach dem Tag des Verlassens und am oder vor D, und der Anteil, nach dem ein solcher Wiedereinstieg bis D auch begann. Jeder vorzeitig verlassene Kurs zählt; wer zweimal verließ, zählt zweimal.",
            "Integrationskurse, die 12 bis 24 Monate vor D vorzeitig verlassen wurden, nicht wegen eines Wegzugs",
        ),
        "dtz_by_course_type" => de(
            "DTZ-Ergebnisse nach Kursart (allgemeine gegenüber Alphabetisierungskursen)",
            "Von den LanguageTestTaken mit exam dtz in den 12 Monaten bis D der Anteil mit b1 oder besser, nach dem Kurs, zu dem der Test gehört: der Integrationskurs der Person mit dem letzten CourseStarted am oder vor dem Testtag (das Ereignis nennt keinen Kurs, also wird der Test dem Kurs zugeordnet, den er abschließt, oder dem zuletzt besuchten). general: dieser Kurs hat course_type general; alpha: course_type alpha; other: eine andere Integrationskursart oder bis dahin kein begonnener Kurs. Für general und alpha auch nur über Erstversuche (first_attempt true). Jedes Ergebnis zählt.",
            "DTZ-Ergebnisse in den 12 Monaten bis D, zugeordnet einem allgemeinen Kurs, einem Alphabetisierungskurs, einem anderen oder keinem (Erstversuche: die mit first_attempt)",
        ),
        "checklist_completion" => de(
            "Checkliste für Neuankommende: Schritte erledigt innerhalb von 4, 8 und 12 Wochen",
            "Neuankommende: Personen, deren erstes ArrivalRecorded nach D minus 12 Monate und mindestens 12 Wochen vor D liegt, ob an D anwesend oder nicht. Für jeden Schritt der Checkliste, von den Neuankommenden, für die er gilt, der Anteil, der ihn innerhalb von 4, 8 und 12 Wochen (7 Tage die Woche) nach der ersten Ankunft erledigt hat; ein vor der Ankunft erledigter Schritt gilt in jedem Zeitfenster als erledigt. Die Schritte und die Ereignisse, die sie als erledigt markieren: start_folder, health_check, vaccination, competence_assessment und start_course durch ein ChecklistItemCompleted dieses Punkts; counselling durch ein beliebiges CounsellingContact; course_entitlement durch ein CourseEntitlementIssued; german_lessons durch ein CourseRegistered eines Sprachkurses; kita durch ein KitaPlaceRequested oder KitaStarted; school durch ein SchoolEnrolled. Für wen jeder Schritt gilt, nach dem Alter im Jahr der ersten Ankunft (Ankunftsjahr minus Geburtsjahr): start_folder, counselling, health_check und vaccination für alle; competence_assessment, course_entitlement, start_course und german_lessons für 15 bis 64 Jahre; kita für 0 bis 5 Jahre; school für 6 bis 14 Jahre. Eine Person mit unbekanntem Geburtsjahr zählt nur bei den Schritten für alle.",
            "Neuankommende, für die der Schritt gilt: alle, 15 bis 64 Jahre, 0 bis 5 Jahre, 6 bis 14 Jahre",
        ),
        "unmet_demand" => de(
            "Bedarf gegenüber Angebot",
            "Nach Bezirk (immer die Dimension, die einzige): an D anwesende wartende Personen gegenüber den für den Monat von D angebotenen Plätzen. Kita: Personen, deren letztes KitaPlaceRequested am oder vor D kein KitaStarted am oder vor D folgte und die an D keinen offenen Kitaplatz haben (kita_requests_open), gegenüber den Kitaplätzen der Angebote (Streams offer-<uuid>) der Art kita_places für den Monat von D in diesem Bezirk, die an D gelten (kita_places: CapacityOffered am oder vor D, das letzte CapacityChanged am oder vor D, kein Rückzug am oder vor D, keines als recorded_in_error zurückgezogen; wie bis known_at erfasst). Kurse: Personen mit einem CourseEntitlementIssued am oder vor D und ohne am oder vor D angemeldeten Integrationskurs (course_entitled_not_registered) sowie Personen mit einem am oder vor D angemeldeten, bis D nicht begonnenen und nicht beendeten Integrationskurs (course_registered_not_started), gegenüber den Kursplätzen der Angebote der Art course_places für den Monat von D in dem Bezirk, den das Angebot nennt (Plätze ohne Bezirk zählen unter none). Die fehlenden Plätze sind max(0, Wartende - angebotene Plätze) je Zelle; eine Randsumme oder die Gesamtsumme stellt alle Wartenden allen Plätzen gegenüber, ist also der Fehlbetrag, wenn Plätze bezirksübergreifend geteilt werden könnten, und die Summe der Fehlbeträge der Bezirke kann größer sein. Eine Person zählt in dem Bezirk, in dem sie an D wohnt. Beratungsstunden sind auch Angebote, aber kein Ereignis erfasst einen Bedarf an ihnen, daher zählen sie hier nicht.",
            "keiner: Zahlen der Wartenden und der angebotenen Plätze",
        ),
        "demand_forecast" => de(
            "Bedarfsvorausschau für die nächsten 12 Monate",
            "Nach Bezirk (immer die Dimension, die einzige): von den an D anwesenden Personen, wer in den 12 Monaten nach D einen Platz brauchen wird, gegenüber den für diese Monate angebotenen Plätzen (die Angebote der Monate nach dem Monat von D bis 12 Monate danach, an D geltend, wie bis known_at erfasst, wie in unmet_demand, über die Monate summiert: ein Angebot zählt die in seinem Monat belegten Plätze). Kita: Kinder von 0 bis 4 Jahren an D (Alter = Jahr(D) - Geburtsjahr) ohne offenen Kitaplatz an D, die innerhalb der 12 Monate im Kita-Alter (1 bis 5) sind oder es erreichen (kita_children), gegenüber kita_places. Schule: Kinder von 5 Jahren an D, an D nicht angemeldet, die innerhalb der 12 Monate das Schulalter erreichen (school_starters; kein Angebot erfasst Schulplätze). Kurse: Personen mit einem CourseEntitlementIssued am oder vor D, die bis D keinen Integrationskurs begonnen haben (course_entitled_not_started), gegenüber course_places. Die fehlenden Plätze sind max(0, Personen - Plätze) je Zelle; eine Randsumme oder die Gesamtsumme stellt alle Personen allen Plätzen gegenüber. Eine Vorausschau aus der anwesenden Bevölkerung: Ankünfte nach D werden nicht vorhergesehen. Personen mit unbekanntem Geburtsjahr zählen nicht als Kinder.",
            "keiner: Zahlen der Personen und der angebotenen Plätze",
        ),
        "base_reach" => de(
            "Reichweite der Stadtteil-Stützpunkte (Start.Punkt.SZ)",
            "Von den an D anwesenden Personen der Anteil mit einem CounsellingContact an einem Stützpunkt (der Kontakt nennt einen Stützpunkt, etwa startpunkt-sz für Start.Punkt.SZ, gleich welche Stelle ihn führte) in den 12 Monaten bis D. Geschnitten nach den Dimensionen der Person an D: nach Bezirk zeigt er, welche Bezirke die Stützpunkte erreichen, nach dem Wohnort der Personen an D, nicht nach dem Ort des Stützpunkts. Ein Kontakt in der eigenen Dienststelle einer Stelle (ohne Stützpunkt) zählt nicht.",
            "an D anwesende Personen",
        ),
        "active_volunteers" => de(
            "Aktive Ehrenamtliche",
            "Nach Bezirk (immer die Dimension, die einzige; der Bezirk, in dem eine ehrenamtliche Person tätig ist, VolunteerRecruited.district, none wenn nicht angegeben): Ehrenamtliche des Registers (Streams volunteer-<uuid>, wie bis known_at erfasst), die an D aktiv sind: VolunteerRecruited am oder vor D und kein VolunteerEnded am oder vor D. share_trained: von ihnen der Anteil mit einem VolunteerTrained am oder vor D. Eine ehrenamtliche Person, deren personenbezogene Daten gelöscht wurden (VolunteerErased), zählt weiter: die Fakten des Registers sind pseudonym und bleiben.",
            "an D aktive Ehrenamtliche",
        ),
        "mentees_per_volunteer" => de(
            "Begleitete Personen je ehrenamtlicher Person",
            "Nach dem Bezirk der ehrenamtlichen Person (immer die Dimension, die einzige): die an D aktiven Ehrenamtlichen (wie in active_volunteers), die Personen mit einer an D laufenden Patenschaft (ein MentorAssigned am oder vor D, kein MentoringEnded für diese Patin oder diesen Paten am oder vor D, im Stream einer Person, nicht durch Wegzug beendet), deren mentor_id eine dieser Ehrenamtlichen nennt (volunteer-<uuid>), gezählt im Bezirk der ehrenamtlichen Person, und begleitete Personen / Ehrenamtliche. Eine Person mit zwei Ehrenamtlichen zählt bei beiden. Patinnen und Paten, die keine Ehrenamtlichen des Registers sind (ältere freie mentor_id-Werte), zählen nicht; mentoring_coverage zählt sie.",
            "an D aktive Ehrenamtliche",
        ),
        "mentor_request_days" => de(
            "Zeit von der Anfrage nach einer Patenschaft bis zur Vermittlung",
            "Tage von einem MentorRequested bis zu dem MentorAssigned, das ihn beantwortet, für jede Vermittlung in den 12 Monaten bis D (nach D minus 12 Monate, am oder vor D). Ein MentorAssigned beantwortet die Anfragen am oder vor ihm und nach dem vorigen MentorAssigned der Person; die Wartezeit zählt ab der frühesten von ihnen. Eine Vermittlung ohne solche Anfrage (eine Patenschaft ohne Anfrage gefunden) ist keine Wartezeit. An D noch offene Anfragen sind noch keine Wartezeiten: die Koordination sieht sie in openMentorRequests. Mediane und 75. Perzentile werden linear zwischen den nächsten Rängen interpoliert.",
            "Vermittlungen in den 12 Monaten bis D, die eine Anfrage beantworten",
        ),
        "volunteer_retention" => de(
            "Verbleib von Ehrenamtlichen nach 6 und 12 Monaten",
            "Nach dem Bezirk der ehrenamtlichen Person (immer die Dimension, die einzige): von den in den 12 Monaten bis D minus 6 Monate Gewonnenen (VolunteerRecruited nach D minus 18 Monate, am oder vor D minus 6 Monate) der Anteil, der 6 Monate nach der Gewinnung noch aktiv ist (kein VolunteerEnded am oder vor Gewinnung plus 6 Monate); von den in den 12 Monaten bis D minus 12 Monate Gewonnenen der Anteil, der 12 Monate danach noch aktiv ist. Jahrgänge der Gewinnung, sodass jede Person eines Jahrgangs bis D die vollen 6 oder 12 Monate hatte. Gelöschte Ehrenamtliche zählen, wie ihre Fakten es sagen.",
            "Ehrenamtliche des Gewinnungsjahrgangs",
        ),
        _ => return None,
    })
}
