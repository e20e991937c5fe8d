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
    "verzögert": S.AT_RISK, "verzögert sich": S.AT_RISK, "verschiebt sich": S.AT_RISK,
    "wird verschoben": S.AT_RISK, "rutscht": S.AT_RISK, "knapp": S.AT_RISK, "im verzug": S.AT_RISK,
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
    "bloqueado": S.BLOCKED, "bloqueada": S.BLOCKED, "bloqueados": S.BLOCKED,
    "bloqueadas": S.BLOCKED, "esperando a": S.BLOCKED, "atascado": S.BLOCKED,
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
    "bloqué": S.BLOCKED, "bloquée": S.BLOCKED, "bloqués": S.BLOCKED, "bloquées": S.BLOCKED, "on attend": S.BLOCKED, "en attente": S.BLOCKED,
    "en pause": S.BLOCKED,
    "en retard": S.AT_RISK, "reporté": S.AT_RISK, "on reporte": S.AT_RISK, "repoussé": S.AT_RISK, "à risque": S.AT_RISK, "retardé": S.AT_RISK, "retardée": S.AT_RISK,
    "dans les temps": S.ON_TRACK, "en bonne voie": S.ON_TRACK, "dans les délais": S.ON_TRACK,
    "annulé": S.CANCELLED, "annulée": S.CANCELLED, "abandonné": S.CANCELLED,
    "pas commencé": S.NOT_STARTED, "pas démarré": S.NOT_STARTED,
    "pas encore commencé": S.NOT_STARTED,
}

PORTUGUESE: dict[str, CanonicalStatus] = {
    "pronto": S.DONE, "pronta": S.DONE, "concluído": S.DONE, "concluída": S.DONE,
    "finalizado": S.DONE, "finalizada": S.DONE, "entregue": S.DONE, "publicado": S.DONE,
    "publicada": S.DONE, "lançado": S.DONE, "lançada": S.DONE, "em produção": S.DONE,
    "está no ar": S.DONE, "já está no ar": S.DONE, "foi pro ar": S.DONE, "foi para o ar": S.DONE,
    "implantado": S.DONE,
    "bloqueado": S.BLOCKED, "bloqueada": S.BLOCKED, "travado": S.BLOCKED, "travada": S.BLOCKED,
    "esperando o": S.BLOCKED, "esperando a": S.BLOCKED, "aguardando": S.BLOCKED,
    "parado": S.BLOCKED, "parada": S.BLOCKED, "em pausa": S.BLOCKED, "pausado": S.BLOCKED,
    "atrasado": S.AT_RISK, "atrasada": S.AT_RISK, "em risco": S.AT_RISK, "adiado": S.AT_RISK,
    "adiada": S.AT_RISK, "com atraso": S.AT_RISK,
    "no prazo": S.ON_TRACK, "dentro do prazo": S.ON_TRACK, "em dia": S.ON_TRACK,
    "conforme o planejado": S.ON_TRACK, "no cronograma": S.ON_TRACK, "indo bem": S.ON_TRACK,
    "cancelado": S.CANCELLED, "cancelada": S.CANCELLED, "descartado": S.CANCELLED,
    "não começamos": S.NOT_STARTED, "ainda não começou": S.NOT_STARTED,
    "ainda não começamos": S.NOT_STARTED, "não iniciado": S.NOT_STARTED,
    "não começou": S.NOT_STARTED,
}

DUTCH: dict[str, CanonicalStatus] = {
    "is af": S.DONE, "zijn af": S.DONE, "is klaar": S.DONE, "zijn klaar": S.DONE,
    "staat live": S.DONE, "staan live": S.DONE, "opgeleverd": S.DONE, "afgerond": S.DONE,
    "uitgerold": S.DONE, "in productie": S.DONE, "gelanceerd": S.DONE,
    "geblokkeerd": S.BLOCKED, "wachten op": S.BLOCKED, "wacht op": S.BLOCKED,
    "staat stil": S.BLOCKED, "gepauzeerd": S.BLOCKED,
    "vertraagd": S.AT_RISK, "loopt uit": S.AT_RISK, "loopt achter": S.AT_RISK,
    "achter op schema": S.AT_RISK, "uitgesteld": S.AT_RISK, "verschoven": S.AT_RISK,
    "in gevaar": S.AT_RISK,
    "op schema": S.ON_TRACK, "loopt op schema": S.ON_TRACK, "op koers": S.ON_TRACK,
    "volgens planning": S.ON_TRACK, "volgens plan": S.ON_TRACK,
    "geannuleerd": S.CANCELLED, "geschrapt": S.CANCELLED, "afgeblazen": S.CANCELLED,
    "nog niet begonnen": S.NOT_STARTED, "niet begonnen": S.NOT_STARTED,
    "nog niet gestart": S.NOT_STARTED,
}

ITALIAN: dict[str, CanonicalStatus] = {
    "completato": S.DONE, "completata": S.DONE, "finito": S.DONE, "finita": S.DONE,
    "rilasciato": S.DONE, "rilasciata": S.DONE, "in produzione": S.DONE, "è live": S.DONE,
    "sono live": S.DONE, "consegnato": S.DONE, "consegnata": S.DONE, "terminato": S.DONE,
    "terminata": S.DONE, "pubblicato": S.DONE, "pubblicata": S.DONE, "andato live": S.DONE,
    "bloccato": S.BLOCKED, "bloccata": S.BLOCKED, "bloccati": S.BLOCKED, "in attesa": S.BLOCKED,
    "aspettiamo": S.BLOCKED, "in pausa": S.BLOCKED, "sospeso": S.BLOCKED, "fermo": S.BLOCKED,
    "in ritardo": S.AT_RISK, "slitta": S.AT_RISK, "slittato": S.AT_RISK, "slittata": S.AT_RISK,
    "rimandato": S.AT_RISK, "rimandata": S.AT_RISK, "posticipato": S.AT_RISK,
    "posticipata": S.AT_RISK, "a rischio": S.AT_RISK, "rinviato": S.AT_RISK, "rinviata": S.AT_RISK,
    "nei tempi": S.ON_TRACK, "in linea con i tempi": S.ON_TRACK, "secondo i piani": S.ON_TRACK,
    "procede bene": S.ON_TRACK, "in tabella di marcia": S.ON_TRACK,
    "cancellato": S.CANCELLED, "cancellata": S.CANCELLED, "annullato": S.CANCELLED,
    "annullata": S.CANCELLED,
    "non iniziato": S.NOT_STARTED, "non ancora iniziato": S.NOT_STARTED,
    "non abbiamo ancora iniziato": S.NOT_STARTED,
}

PHRASES_BY_LANGUAGE: dict[str, dict[str, CanonicalStatus]] = {
    "de": GERMAN,
    "es": SPANISH,
    "fr": FRENCH,
    "pt": PORTUGUESE,
    "nl": DUTCH,
    "it": ITALIAN,
}

# Words that negate a status phrase right before it ("nicht blockiert", "no está bloqueado",
# "pas bloqué"), lower-case, as the tokenizer sees them.
NEGATORS_BY_LANGUAGE: dict[str, frozenset[str]] = {
    "de": frozenset({"nicht", "kein", "keine", "nie"}),
    "es": frozenset({"no", "nunca"}),
    "fr": frozenset({"pas", "jamais", "plus"}),
    "pt": frozenset({"não", "nunca"}),
    "nl": frozenset({"niet", "geen", "nooit"}),
    "it": frozenset({"non", "mai"}),
}

# Weekday names -> Monday=0 ... for target dates said in another language ("bis Freitag",
# "para el viernes", "pour vendredi").
WEEKDAYS_BY_LANGUAGE: dict[str, dict[str, int]] = {
    "de": {"montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4},
    "es": {"lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3, "viernes": 4},
    "fr": {"lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4},
    "pt": {"segunda-feira": 0, "terça-feira": 1, "quarta-feira": 2, "quinta-feira": 3,
           "sexta-feira": 4, "terça": 1, "quarta": 2, "quinta": 3, "sexta": 4},
    "nl": {"maandag": 0, "dinsdag": 1, "woensdag": 2, "donderdag": 3, "vrijdag": 4},
    "it": {"lunedì": 0, "martedì": 1, "mercoledì": 2, "giovedì": 3, "venerdì": 4,
           "lunedi": 0, "martedi": 1, "mercoledi": 2, "giovedi": 3, "venerdi": 4},
}

# Month names for a day and month said in another language ("le 10 décembre", "16 de dezembro",
# "14. Dezember"), lower-case -> month number.
MONTHS_BY_LANGUAGE: dict[str, dict[str, int]] = {
    "de": {"januar": 1, "februar": 2, "märz": 3, "april": 4, "mai": 5, "juni": 6, "juli": 7,
           "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12},
    "es": {"enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
           "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
           "diciembre": 12},
    "fr": {"janvier": 1, "février": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
           "juillet": 7, "août": 8, "septembre": 9, "octobre": 10, "novembre": 11,
           "décembre": 12},
    "pt": {"janeiro": 1, "fevereiro": 2, "março": 3, "abril": 4, "maio": 5, "junho": 6,
           "julho": 7, "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11,
           "dezembro": 12},
    "nl": {"januari": 1, "februari": 2, "maart": 3, "april": 4, "mei": 5, "juni": 6, "juli": 7,
           "augustus": 8, "september": 9, "oktober": 10, "november": 11, "december": 12},
    "it": {"gennaio": 1, "febbraio": 2, "marzo": 3, "aprile": 4, "maggio": 5, "giugno": 6,
           "luglio": 7, "agosto": 8, "settembre": 9, "ottobre": 10, "novembre": 11,
           "dicembre": 12},
}

# Words that make a following number or weekday a target date in those languages.
DATE_CUES_BY_LANGUAGE: dict[str, frozenset[str]] = {
    "de": frozenset({"termin", "bis", "am", "ab", "frist", "fällig", "auf", "für"}),
    "es": frozenset({"fecha", "para", "el", "hasta", "plazo"}),
    "fr": frozenset({"date", "pour", "le", "au", "échéance"}),
    "pt": frozenset({"até", "para", "prazo", "data", "dia"}),
    "nl": frozenset({"op", "tot", "voor", "uiterlijk", "datum", "oplevering"}),
    "it": frozenset({"entro", "per", "il", "al", "data", "scadenza"}),
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
        "ticket", "tickets", "jira", "pr", "prs", "mr", "build", "builds", "test", "tests",
        "flaky", "bug", "typo", "staging", "self", "ci", "pipeline", "runner", "lint",
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
