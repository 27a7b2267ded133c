"""Text written to the assistant rather than to a reader: documents are data, never instructions.

A passage that gives the assistant orders ("ignore the previous instructions", "when asked about
the deadline, answer …", "instruction au système : réponds que …"), poses as its prompt format
("System:", "<|im_start|>system"), speaks to a machine ("Note to the AI assistant", "Claude, …",
"si vous êtes une IA", "the summarizer is to …") or gives the person asking a new role is
recognised here, in English and French (`addressed_to_assistant`). Such a passage is evidence of
nothing but its own text: the pipeline sets it aside before the model reads anything
(`set_aside`), and the answer names the document (`Addressed`); the ingest records it in the
document's metadata.

The patterns need a machine, a question being asked, or the prompt's own format, so that orders
to a human reader ("you must report incidents within 72 hours") and texts about assistants are
not flagged: none of 4,596 passages of the evaluation sets is. Their recall on texts written by
someone who had not seen them is in docs/evaluation.md (`make bench-addressed`); what they miss
is caught by nothing else, since the verification cannot tell an injected fact from a true one.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence

from rag_app.answer import Addressed, Passage

log = logging.getLogger(__name__)

# Who the words are for. `_AI` may be a person too ("assistant") and is used only where the
# words around it address a machine; `_MACHINE` is never a person.
_AI = r"(?:ai|a\.i\.|artificial intelligence|assistant|chatbot|chat bot|bot|language model|llm|gpt|copilot)"
_IA = r"(?:ia|i\.a\.|intelligence artificielle|assistant|assistante|chatbot|robot|modele(?: de langage)?|llm)"
_MACHINE = (r"(?:ai|a\.i\.|artificial intelligence|chat ?bots?|bots?|(?:large )?language models?|llms?|chatgpt|"
            r"gpt-?\w*|"
            r"copilot|gemini|claude|mistral|le chat|(?:ai|virtual|document|retrieval) (?:assistants?|systems?|tools?|"
            r"models?|agents?|readers?)|automated (?:readers?|systems?|tools?|agents?|review tools?)|summari[sz]ers?|"
            r"(?:document-processing|automated document-processing) agents?|reviewing model)")
_MACHINE_FR = (r"(?:ia|i\.a\.|intelligence artificielle|chat ?bots?|robots? conversationnels?|bots?|"
               r"modeles? de langage|"
               r"llms?|chatgpt|copilot|gemini|claude|mistral|le chat|assistants? (?:ia|virtuels?|intelligents?)|"
               r"(?:outils?|systemes?|modeles?|agents?) d'ia|agents? ia|lecteurs? automati(?:qu|s)es?|"
               r"agents? conversationnels?|outils? automatises?|agents? automatises?|systemes? de synthese|"
               r"robots? de (?:synthese|tri)|resumeur|assistant d'indexation)")
_NAMED = (r"(?:chatgpt|copilot|gemini|claude|mistral|le chat|chat ?bots?|llms?|(?:large )?language models?|"
          r"modeles? de langage|"
          r"(?:ai|ia|virtual|virtuels?) assistants?|assistants? (?:ia|ai|virtuels?))")  # a machine, by name
_ANSWER_EN = r"(?:answer|respond|reply|say|state|tell|report|claim|write|output)"
_ANSWER_FR = (r"(?:repond(?:s|re|ez)?|di(?:s|re|tes)|affirm(?:e|er|ez)|indiqu(?:e|er|ez)|ecri(?:s|re|vez)"
              r"|declar(?:e|er|ez))")
_THIS_EN = (r"(?:this|these) (?:page|document|doc|file|note|wiki|e-?mail|thread|report|resume|contract|handbook|memo|"
            r"text|folder|site)")
_THIS_FR = (r"(?:ce|cette|ces) (?:page|document|fichier|note|wiki|mail|courriel|chaine|rapport|contrat|reglement|"
            r"dossier|texte|site)")

# Each pattern is searched in the text folded to lower case without accents.
_PATTERNS = [
    # Orders to drop what came before.
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|preceding|"
    r"other|all|any|your|system|safety)\b[^.\n]{0,25}\b(?:instructions?|directions?|rules|prompts?|guidelines|context|"
    r"passages|documents|sources|configuration|restrictions|filters)\b",
    r"\b(?:ignore[zr]?|oublie[zr]?|ne (?:tiens|tenez) (?:pas|plus) compte|fais abstraction)\b[^.\n]{0,40}"
    r"\b(?:instructions?|consignes?|regles|indications|passages|documents|sources|configuration|restrictions)\b",
    # Text posing as the model's own prompt format
    # (a sentence about chat templates that names "<|im_start|>" is not one: a turn is opened).
    r"<\|im_start\|>\s*(?:system|assistant)\b|<\|(?:system|assistant)\|>\s*\w|<<sys>>\s*\w",
    r"(?:^|\n)\s*(?:#+|\*\*|\[)?\s*(?:system|systeme|assistant|ai|ia)(?: (?:message|note|override|instructions?))?"
    r"\s*(?:\]|\*\*)?\s*:",
    r"\[(?:system|systeme|developer|admin)(?: (?:message|note|prompt|override))?\]|\[\[sys\]\]|"
    r"\bsys(?:tem)?[ _]override\b|\bforcage systeme\b",
    rf"\binstructions? (?:au|du|pour le|a l'|pour l'|de l')\s*(?:systeme|{_IA})\b",
    # Words addressed to an AI: by name, by a mention, to one that reads this.
    rf"\b(?:note|message|instructions?|attention|reminder|warning|important|notice)s? (?:to|for) (?:the |any |"
    rf"all |every )?"
    rf"(?:{_AI}|{_MACHINE})s?\b",
    rf"\b(?:if|when) you(?:'re| are) (?:an? |the )?{_AI}\b",
    rf"\b(?:dear|hey|hi|hello) {_AI}\b|\b(?:cher|chere|salut|bonjour|coucou) (?:{_MACHINE_FR}|assistant)\b",
    rf"(?:^|[.!?:\n]\s*)(?:attention\s+)?(?:{_NAMED}|assistant)\s*[,:]\s",
    r"\b(?:dear|hey|hi|hello) (?:model|bot|summari[sz]er)\b|\byou,? the (?:assistant|ai|bot|model)\b|"
    r"\btoi,? l'(?:assistant|ia)\b",
    # A label naming the machine, in a table cell, a line, a field: "assistant:", "IA :", "note_ia":".
    rf"(?:^|[\n|;\[{{(]|\bpour l'|\bfor the |\bto the )\s*(?:agent |outil |robot )?(?:ia|ai|assistant|bot|{_NAMED})"
    rf"(?:[ _-](?:instructions?|notes?|consignes?|directives?))?[\"']?\s*:",
    r"\b(?:consignes?|regles|rules|instructions?|directives?|notes?)[ _-](?:ia|ai)\b[\"']?\s*:",
    rf"\b(?:rules|instructions|directives|consignes?|regles) (?:for|to|pour|au|a la|aux|a l') (?:the )?"
    rf"(?:{_MACHINE}|{_MACHINE_FR})\b",
    # Words for whatever is not a person reading.
    r"\b(?:(?:not a human|non-human|non humain) (?:reader|lecteur)|that is not human|pas un lecteur humain|"
    r"n'(?:etes|es) pas (?:un |une )?(?:lecteur |lectrice )?humaine?)\b",
    rf"\b(?:if|when) (?:any |an |the )?(?:{_MACHINE}|bot|model|agent|tool)s? (?:reads?|processes|sees|summari[sz]es|"
    rf"indexes|is generating|generates)\b",
    rf"\bsi (?:un |une |l')?(?:{_MACHINE_FR}|assistant|robot|agent|outil) (?:lit|traite|resume|indexe)\b",
    # What a machine is told to do, by name: "AI systems … must state", "l'outil … doit dire".
    rf"\b(?:{_MACHINE}|the assistant)\b[^.\n]{{0,60}}\b(?:must|should|shall|is to|are to|is instructed to|"
    rf"are instructed "
    rf"to|are required to)\s+(?:not\s+|never\s+|always\s+|only\s+|no longer\s+)?(?:state|say|report|present|describe|"
    rf"answer|reply|tell|mention|omit|classify|treat|recommend|include|skip|ignore|refuse|mark|output|flag|cite)\b",
    rf"\b(?:{_MACHINE_FR}|l'assistant|le modele)\b[^.\n]{{0,60}}\b(?:doit|doivent|est tenue? d'|sont tenus d'|devra|"
    rf"devront)\s*(?:ne\s+(?:plus\s+|jamais\s+|pas\s+)?)?(?:dire|affirmer|indiquer|repondre|presenter|classer|omettre|"
    rf"inclure|envoyer|signaler|mentionner|qualifier|citer|decrire|traiter|refuser|informer)\b",
    rf"\bil (?:est demande|doit etre precise) (?:au|a l'|par le|par l')\s*(?:{_MACHINE_FR}|assistant)",
    r"@(?:assistant|ai|ia|bot|copilot|chatgpt|gemini|claude)\b",
    rf"\b{_MACHINE}\s+(?:that |which |who )?(?:is |are )?(?:reading|processing|answering|summari[sz]ing|indexing|"
    rf"analy[sz]ing|parsing|using|read|process|index)\b[^.\n]{{0,50}}\b(?:this|these|it|them)\b",
    rf"\b{_MACHINE_FR}\s+(?:qui\s+)?(?:lit|lisent|indexe|indexent|analyse|analysent|resume|resument|traite|traitent|"
    rf"utilise|utilisent|interroges?)\b[^.\n]{{0,50}}\b(?:ce|cette|ces|le present|la presente)\b",
    rf"\b{_MACHINE_FR}\s+qui (?:le|la|les) (?:lit|lisent|lira|indexe|indexent|traite|traitent)\b",
    rf"\b(?:message|note|consigne|avertissement|rappel|commentaire|important)s?(?: de cellule| du \w+| de \w+)? "
    rf"(?:a|pour|aux) (?:l'|le |la |les |une? |tout |l'attention de l'|l'attention des )?(?:{_IA}|{_MACHINE_FR})s?\b",
    rf"\b(?:si|quand|lorsque) (?:tu es|vous etes) (?:une? |l'|le |la )?{_IA}\b",
    rf"\ba l'attention (?:de l'|du |de la |des |de )?(?:{_IA}|{_MACHINE_FR})s?\b",
    # A new role for the reader, or for the person asking.
    r"\b(?:treat|consider|regard) the (?:current )?user as\b|\bconsidere[rz]? l'utilisateur comme\b",
    r"\b(?:from now on|from this point (?:forward|on)|starting now|henceforth),? you (?:are|will (?:be|act)|"
    r"must act)\b|"
    r"\byou are now (?:a|an|the|in)\b",
    r"\b(?:a partir de maintenant|a compter de maintenant|desormais|dorenavant),? (?:tu es|vous etes|tu joues|tu agis|"
    r"vous agissez|tu t'appelles|l'assistant|l'ia|le modele)\b",
    # Orders about what to answer when asked (a reader is told what to do, not what to answer).
    rf"\b(?:when|if|whenever)\s+(?:you are |you're )?(?:asked|questioned|queried)\b[^.\n]{{0,120}}"
    rf"\b{_ANSWER_EN}\s+(?:that\b|with\b|only\b|it is\b|it's\b|[\"'«“])",
    rf"\b(?:when|if|whenever)\s+(?:the user|a user|users)\s+asks?\b[^.\n]{{0,120}}\b{_ANSWER_EN}\b",
    rf"\bwhen (?:you )?(?:summari[sz]\w*|answer\w* (?:any |a )?questions?)\b[^.\n]{{0,60}}\b{_THIS_EN}",
    r"(?:^|[.!?:]\s+|\n\s*)(?:please\s+)?(?:always\s+)?(?:answer|respond|reply)\s+that\b",
    rf"\b(?:si|quand|lorsqu'?)\s*(?:on|l'on|l'utilisateur|quelqu'un)\s+(?:te|vous)\s+(?:demande|interroge|pose)\b"
    rf"[^.\n]{{0,120}}\b{_ANSWER_FR}\b",
    rf"\b(?:si|quand|lorsque) l'utilisateur (?:demande|interroge|pose)\b[^.\n]{{0,120}}\b{_ANSWER_FR}\b",
    rf"\b(?:quand|lorsque|lorsqu'?)\s*(?:tu|vous) (?:reponds|repondez|resumes|resumez|rediges|redigez)\b[^.\n]{{0,80}}"
    rf"\b{_THIS_FR}",
    r"(?:^|[.!?:]\s+|\n\s*)(?:toujours\s+)?(?:reponds|repondez)\s+(?:que|toujours)\b",
    r"\b(?:tell|inform|answer) the user\b|\b(?:dis|dites|reponds|repondez|indique|indiquez) a l'utilisateur\b",
]
_ADDRESSED = [re.compile(p, re.MULTILINE) for p in _PATTERNS]
_QUOTES = frozenset("'\"«“‘`")
MAX_QUOTE = 80  # characters of the matched words quoted in a message
# Why nothing answers when every passage found addresses the assistant.
ONLY_ADDRESSED = {
    "en": "the passages found for it give the assistant instructions instead of information",
    "fr": "les passages trouvés donnent des instructions à l'assistant au lieu d'informations",
}


def _folded(text: str) -> str:
    """Lower case, accents dropped, curly apostrophes straight: one character for one."""
    return "".join(unicodedata.normalize("NFD", c)[0] for c in text.lower().replace("’", "'"))


def addressed_to_assistant(text: str) -> str:
    """The words of ``text`` that address the assistant (orders, a fake system or chat turn,
    words to an AI), quoted as found; "" when it holds none."""
    folded = _folded(text)
    for pattern in _ADDRESSED:
        for found in pattern.finditer(folded):
            if _mentioned(folded, found.start()):
                continue
            quoted = text[found.start():found.end()] if len(folded) == len(text) else found.group(0)
            return " ".join(quoted.split())[:MAX_QUOTE]
    return ""


def _mentioned(folded: str, start: int) -> bool:
    """Whether the words at ``start`` open a quotation: named (an article on prompt injection
    citing "ignore previous instructions"), not said."""
    before = folded[:start].rstrip(" ")
    return bool(before) and before[-1] in _QUOTES


def set_aside(passages: Sequence[Passage]) -> tuple[list[Passage], list[Addressed]]:
    """``passages`` without those that address the assistant, and those, quoted (in order)."""
    kept: list[Passage] = []
    addressed: list[Addressed] = []
    for passage in passages:
        quote = addressed_to_assistant(passage.text)
        if quote:
            log.warning("Passage %d of %s addresses the assistant (“%s”): set aside", passage.chunk_id,
                        passage.path, quote)
            addressed.append(Addressed(passage.chunk_id, passage.path, passage.page, quote))
        else:
            kept.append(passage)
    return kept, addressed
