"""Status vocabulary of the claim parser besides English, as data: one table per language.

Each table maps a phrase (matched like `[slack].status_phrases`: case-insensitive, on word
boundaries, any whitespace or hyphen between words) to the status it asserts. The English table
is `connectors.claims.DEFAULT_PHRASES`; `[slack].status_languages` chooses which tables are on
(all by default) and `[slack].status_phrases` adds a team's own words in any language.

Only the plain phrases are translated: the judgement around them (questions, plans, negation,
reported speech) is the English rules', plus the negation words below. Longer phrases win over
the shorter ones they contain ("noch nicht begonnen" over "begonnen").
"""

from __future__ import annotations

from connectors.base import CanonicalStatus

S = CanonicalStatus

GERMAN: dict[str, CanonicalStatus] = {
    "fertig": S.DONE, "erledigt": S.DONE, "ist live": S.DONE, "sind live": S.DONE,
    "ausgerollt": S.DONE, "abgeschlossen": S.DONE, "veröffentlicht": S.DONE, "geliefert": S.DONE,
    "gemergt": S.DONE, "deployt": S.DONE, "in produktion": S.DONE,
    "blockiert": S.BLOCKED, "warten auf": S.BLOCKED, "wartet auf": S.BLOCKED,
    "hängt an": S.BLOCKED, "hängt noch an": S.BLOCKED, "hängt fest": S.BLOCKED, "pausiert": S.BLOCKED, "auf eis": S.BLOCKED,
    "verzögert": S.AT_RISK, "verzögert sich": S.AT_RISK, "im verzug": S.AT_RISK,
    "in verzug": S.AT_RISK, "verschoben": S.AT_RISK, "verspätet": S.AT_RISK, "gefährdet": S.AT_RISK, "hinterher": S.AT_RISK,
    "im plan": S.ON_TRACK, "nach plan": S.ON_TRACK, "im zeitplan": S.ON_TRACK,
    "auf kurs": S.ON_TRACK, "läuft gut": S.ON_TRACK,
    "gestrichen": S.CANCELLED, "abgesagt": S.CANCELLED, "gecancelt": S.CANCELLED,
    "abgebrochen": S.CANCELLED, "eingestellt": S.CANCELLED,
    "noch nicht angefangen": S.NOT_STARTED, "noch nicht begonnen": S.NOT_STARTED,
    "nicht begonnen": S.NOT_STARTED, "nicht angefangen": S.NOT_STARTED,
    "noch nicht gestartet": S.NOT_STARTED,
}

SPANISH: dict[str, CanonicalStatus] = {
    "listo": S.DONE, "lista": S.DONE, "terminado": S.DONE, "terminada": S.DONE,
    "en producción": S.DONE, "publicado": S.DONE, "publicada": S.DONE, "desplegado": S.DONE,
    "lanzado": S.DONE, "lanzada": S.DONE, "completado": S.DONE, "entregado": S.DONE,
    "bloqueado": S.BLOCKED, "bloqueada": S.BLOCKED, "esperando a": S.BLOCKED,
    "en pausa": S.BLOCKED, "parado": S.BLOCKED,
    "con retraso": S.AT_RISK, "retrasado": S.AT_RISK, "retrasada": S.AT_RISK,
    "en riesgo": S.AT_RISK, "pospuesto": S.AT_RISK, "aplazado": S.AT_RISK, "atrasado": S.AT_RISK, "atrasada": S.AT_RISK,
    "va bien": S.ON_TRACK, "según lo previsto": S.ON_TRACK, "en tiempo": S.ON_TRACK,
    "a tiempo": S.ON_TRACK, "en plazo": S.ON_TRACK,
    "cancelado": S.CANCELLED, "cancelada": S.CANCELLED, "descartado": S.CANCELLED,
    "sin empezar": S.NOT_STARTED, "no empezado": S.NOT_STARTED, "sin comenzar": S.NOT_STARTED,
}

FRENCH: dict[str, CanonicalStatus] = {
    "terminé": S.DONE, "terminée": S.DONE, "fini": S.DONE, "finie": S.DONE, "en prod": S.DONE,
    "en production": S.DONE, "livré": S.DONE, "livrée": S.DONE, "publié": S.DONE,
    "publiée": S.DONE, "déployé": S.DONE, "déployée": S.DONE, "mis en ligne": S.DONE,
    "bloqué": S.BLOCKED, "bloquée": S.BLOCKED, "on attend": S.BLOCKED, "en attente": S.BLOCKED,
    "en pause": S.BLOCKED,
    "en retard": S.AT_RISK, "reporté": S.AT_RISK, "on reporte": S.AT_RISK, "repoussé": S.AT_RISK, "à risque": S.AT_RISK, "retardé": S.AT_RISK, "retardée": S.AT_RISK,
    "dans les temps": S.ON_TRACK, "en bonne voie": S.ON_TRACK, "dans les délais": S.ON_TRACK,
    "annulé": S.CANCELLED, "annulée": S.CANCELLED, "abandonné": S.CANCELLED,
    "pas commencé": S.NOT_STARTED, "pas démarré": S.NOT_STARTED,
    "pas encore commencé": S.NOT_STARTED,
}

PHRASES_BY_LANGUAGE: dict[str, dict[str, CanonicalStatus]] = {
    "de": GERMAN,
    "es": SPANISH,
    "fr": FRENCH,
}

# Words that negate a status phrase right before it ("nicht blockiert", "no está bloqueado",
# "pas bloqué"), lower-case, as the tokenizer sees them.
NEGATORS_BY_LANGUAGE: dict[str, frozenset[str]] = {
    "de": frozenset({"nicht", "kein", "keine", "nie"}),
    "es": frozenset({"no", "nunca"}),
    "fr": frozenset({"pas", "jamais", "plus"}),
}

# Weekday names -> Monday=0 ... for target dates said in another language ("bis Freitag",
# "para el viernes", "pour vendredi").
WEEKDAYS_BY_LANGUAGE: dict[str, dict[str, int]] = {
    "de": {"montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4},
    "es": {"lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3, "viernes": 4},
    "fr": {"lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4},
}

# Words that make a following number or weekday a target date in those languages.
DATE_CUES_BY_LANGUAGE: dict[str, frozenset[str]] = {
    "de": frozenset({"termin", "bis", "am", "ab", "frist", "fällig"}),
    "es": frozenset({"fecha", "para", "el", "hasta", "plazo"}),
    "fr": frozenset({"date", "pour", "le", "au", "échéance"}),
}

LANGUAGES: tuple[str, ...] = ("en", *PHRASES_BY_LANGUAGE)

# What a status word can be about besides the work, by kind. A claim that names no deliverable
# goes to the thread's or channel's deliverable; it is dropped when the clause's subject (or,
# for "behind on ...", "on track to ...", the thing after the status word) is one of these
# ("the printer is stuck", "we're so behind on the fantasy league"), and when its sentence
# speaks of private life (`PRIVATE_LIFE`: "everything is fine, just slow wifi"). Lower-case
# tokens, English with the common German/Spanish/French words.
NOT_THE_WORK: dict[str, frozenset[str]] = {
    "people": frozenset({
        "candidate", "candidates", "intern", "interns", "contractor", "recruiter", "kid", "kids",
        "wife", "husband", "mum", "mom", "dad", "parents", "babysitter", "landlord",
    }),
    "meetings": frozenset({
        "meeting", "meetings", "call", "calls", "standup", "retro", "offsite", "workshop",
        "interview", "interviews", "townhall", "allhands",
        "invite", "invites", "agenda", "hands", "office", "hackathon", "bash", "prizes",
        "raffle", "potluck", "talk", "conference", "meetup", "room",
    }),
    "chores": frozenset({
        "ticket", "tickets", "jira", "pr", "prs", "mr", "staging", "self", "ci", "pipeline", "runner", "lint",
        "linter", "laptop", "vpn", "printer", "monitor", "keyboard", "dotfiles", "ide", "vscode",
        "inbox", "timesheet", "timesheets", "expenses", "expense", "payroll",
        "reimbursement", "hiring", "recruiting", "headcount", "okrs", "account", "password", "license", "licence", "spam",
    }),
    "private": frozenset({
        "coffee", "lunch", "dinner", "breakfast", "beer", "beers", "pizza", "cake", "birthday",
        "party", "league", "fantasy", "game", "gym", "run", "steps", "step", "marathon",
        "diet", "flight", "flights", "train", "trains", "bus", "taxi", "cab", "uber", "traffic",
        "commute", "parking", "car", "bike", "snow", "rain", "weather", "storm", "wifi", "internet",
        "vacation", "weekend", "trip", "visa", "doctor", "dentist", 
        "dog", "cat", "puppy", "package", "parcel", "kitchen",
        "renovation", "elevator", "playlist", "spotify", "podcast", "movie", "netflix", "book",
        "plants", "jury", "apartment", "flat", "house", "mittagessen", "kaffee", "urlaub", "zug", "bahn", "stau",
        "metro", "tren", "atasco", "métro", "bouchons",
        "café", "almuerzo", "vacaciones", "déjeuner", "vacances",
    }),
}
NOT_THE_WORK_WORDS: frozenset[str] = frozenset().union(*NOT_THE_WORK.values())

# Private life: a sentence with one of these is about the speaker's day, whatever its
# status word says ("ship it! (the birthday cake, I mean)").
PRIVATE_LIFE: frozenset[str] = NOT_THE_WORK["private"] - {"run", "game", 
                                                          "book", 
                                                          "package", "trip"}
