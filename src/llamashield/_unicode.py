"""Unicode tricks that hide words from Llama Guard, undone before it reads a message.

``reveal`` is the non-ASCII half of ``_conversation.neutralize``: lone surrogates replaced, text
smuggled in invisible characters decoded onto lines of its own, NFKC, invisible characters and
stray combining marks removed, and look-alike letters in words that mix scripts folded to the
Latin letters they imitate. Plain ASCII text never comes here.

Look-alikes come from Unicode's confusables data (UTS #39, ``confusables.txt``) and the script
of each character from ``Scripts.txt``, both as shipped by the ``confusable-homoglyphs``
package and loaded once per process on first use (tens of milliseconds, most of it the
package's own imports; the confusables only for a text that mixes scripts). A word is folded
only when its letters come from more than one script ("b\u043emb", "b\u0585mb"): a word wholly
in one script, Russian or Armenian text that happens to look Latin included, is that language
and is left alone.

Latin letters Unicode also encodes as other characters that NFKC leaves alone ("fancy text":
small capitals "\u0299\u1d0f\u1d0d\u0299", negative squared or circled letters, regional
indicators "\U0001f1e7\U0001f1f4\U0001f1f2\U0001f1e7") are folded to ASCII wherever they stand:
they are no language's letters, only Latin ones drawn differently. Which characters these are is
read from their Unicode names (``unicodedata``), once per process, on the first text with a
character beyond Latin-1 (about 30 ms).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Mapping

__all__ = ["fold_fancy_letters", "fold_homoglyphs", "reveal", "smuggled"]

# Invisible characters used to split trigger words ("b\u200bomb") or reorder text on screen:
# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt, 15.1), which renders as
# nothing by definition, so removing it changes nothing a reader sees. It includes the tag
# characters, variation selectors (both blocks) and the musical-symbol format controls.
_INVISIBLE_CLASS = (
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_INVISIBLE = re.compile(_INVISIBLE_CLASS)
# Lone surrogates cannot be encoded as UTF-8: any HTTP client would crash on them.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Invisible text a chat model may still read ("ASCII smuggling"): tag characters spell ASCII,
# runs of variation selectors spell bytes. Stripping alone would hide it from the guard, so it
# is decoded and judged on a line of its own. Every tag character of a text is read, in order:
# a model reads them as one text however they are spread, so one tag after each visible letter
# ("n\U000e0062i\U000e006fc...") spells a word as surely as a run does. A run of selectors is
# read with every other invisible character taken out first, so a zero-width space, a joiner or
# U+E0001 between the selectors cannot break it into pieces too short to decode.
_TAGS = "\U000e0020-\U000e007e"
_SELECTORS = "\ufe00-\ufe0f\U000e0100-\U000e01ef"
_HIDING = re.compile(f"[{_TAGS}{_SELECTORS}]")
_TAG = re.compile(f"[{_TAGS}]")
_SELECTOR = re.compile(f"[{_SELECTORS}]")
_SELECTOR_RUN = re.compile(f"[{_SELECTORS}]{{2,}}")
_ALL_BUT_SELECTORS = re.compile(f"(?![{_SELECTORS}]){_INVISIBLE_CLASS}")
# Combining marks NFKC could not compose onto their letter ("b\u0336o\u0336m\u0336b\u0336",
# Zalgo text) split a word into odd tokens the model may not recognise; accents that compose
# ("e\u0301" -> "é") are already single characters by then and stay.
_STRAY_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Text wholly in these blocks (ASCII, Latin-1, Latin Extended-A/B, Latin Extended Additional)
# has no letter of another script: no word in it can mix scripts, so folding is skipped
# without loading the confusables data.
_OUTSIDE_LATIN = re.compile("[^\x00-\u024f\u1e00-\u1eff]")
_WORD = re.compile(r"\w+")
# Characters that belong to no one script, and scripts written together in one word (Japanese
# mixes Han, Hiragana and Katakana; Korean Han and Hangul): none of these makes a word "mixed".
_NO_SCRIPT = frozenset({"COMMON", "INHERITED", "Unknown"})
_CJK = frozenset({"HAN", "HIRAGANA", "KATAKANA", "BOPOMOFO", "HANGUL"})
# Letters read as Latin ones that UTS #39 maps to a non-ASCII prototype (Cyrillic and Greek
# kappa to U+0138 kra, Greek chi is a prototype itself); folded since llamashield's first
# homoglyph table, kept so no word that was caught before passes now.
_BEYOND_UTS39: Mapping[str, str] = {"\u043a": "k", "\u03ba": "k", "\u03c7": "x"}
# The Unicode names of Latin letters drawn as something else: "LATIN LETTER SMALL CAPITAL B",
# "NEGATIVE SQUARED LATIN CAPITAL LETTER B", "REGIONAL INDICATOR SYMBOL LETTER B". Only a letter
# A-Z right after "LETTER" (or "SMALL CAPITAL") qualifies: "LATIN SMALL LETTER SHARP S" (\u00df),
# "... E WITH ACUTE" (\u00e9) and "... DOTLESS I" are letters of their own, and another script's
# "DEVANAGARI LETTER A" is no Latin letter at all.
_FANCY_NAME = re.compile(
    r"(?:[A-Z]+ )*?(?:LATIN (?P<case>CAPITAL |SMALL )?LETTER (?P<small_capital>SMALL CAPITAL )?"
    r"|REGIONAL INDICATOR SYMBOL LETTER )(?P<letter>[A-Z])"
)
# Where to look for them: planes 0 and 1. Plane 2 and 3 hold only CJK ideographs, plane 14 tag
# characters (decoded above, never folded) and selectors, planes 15 and 16 private use.
_FANCY_RANGE = range(0x80, 0x20000)
# Latin-1 has no such character (its letters are ASCII, accented or NFKC-folded like "\u00aa"):
# text wholly in it never builds the table.
_BEYOND_LATIN_1 = re.compile("[^\x00-\xff]")


def _smuggled_runs(text: str) -> list[str]:
    """The tag characters of ``text`` (all of them, in order) and each run of variation
    selectors, decoded (no prefilter)."""
    found = ["".join(chr(ord(c) - 0xE0000) for c in _TAG.findall(text))]
    selectors_only = _ALL_BUT_SELECTORS.sub("", text)
    for run in _SELECTOR_RUN.findall(selectors_only):
        try:
            decoded = _selector_bytes(run).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded.isprintable():
            found.append(decoded)
    # Selectors spread one after each visible letter spell bytes as surely as a run does: all
    # of them, in order, too. An emoji's U+FE0F reads as a control byte and drops out here.
    spread = _selector_bytes("".join(_SELECTOR.findall(text))).decode("utf-8", errors="ignore")
    spread = "".join(c for c in spread if c.isprintable())
    if spread.strip() and spread not in found:
        found.append(spread)
    return [f for f in found if f.strip()]


def _selector_bytes(selectors: str) -> bytes:
    return bytes(ord(c) - 0xFE00 if ord(c) < 0x10000 else ord(c) - 0xE0100 + 16 for c in selectors)


def smuggled(text: str) -> list[str]:
    """Text hidden in tag characters or variation selectors, decoded."""
    return _smuggled_runs(text) if _HIDING.search(text) else []


@functools.cache
def _folds() -> tuple[dict[int, str], re.Pattern[str]]:
    """Each non-Latin word character whose UTS #39 prototype is ASCII letters or digits, with
    that prototype; and a pattern finding any of them (built once, on first use)."""
    from confusable_homoglyphs.confusables import confusables_data

    data: Mapping[str, list[Mapping[str, str]]] = confusables_data
    table: dict[int, str] = {}
    for char, entries in data.items():
        # A source character lists exactly its prototype; a prototype lists its sources.
        if len(char) != 1 or len(entries) != 1:
            continue
        target = entries[0]["c"]
        if not (target.isascii() and target.isalnum()):
            continue
        if _script(char) in _NO_SCRIPT | {"LATIN"} or not char.isalnum():
            continue  # Latin letters are the reading, not the trick; symbols split words anyway
        table[ord(char)] = target
    table.update({ord(char): target for char, target in _BEYOND_UTS39.items()})
    chars = "".join(sorted(map(chr, table)))
    return table, re.compile(f"[{re.escape(chars)}]")


@functools.cache
def _script_ranges() -> tuple[list[int], list[int], list[str]]:
    """Scripts.txt as sorted range starts and ends with each range's script (CJK as one)."""
    from confusable_homoglyphs.categories import categories_data

    names: list[str] = categories_data["iso_15924_aliases"]
    ranges = sorted(categories_data["code_points_ranges"])
    scripts = ["CJK" if names[r[2]] in _CJK else names[r[2]] for r in ranges]
    return [r[0] for r in ranges], [r[1] for r in ranges], scripts


# Each character's script, as looked up once: texts repeat their characters, and a lookup is a
# bisect. Bounded, so text made of every code point cannot grow it past a few MB.
_SCRIPT_OF: dict[str, str] = {}
_SCRIPT_CACHE_MAX = 20_000


def _script(char: str) -> str:
    script = _SCRIPT_OF.get(char)
    if script is None:
        starts, ends, scripts = _script_ranges()
        index = bisect.bisect_right(starts, ord(char)) - 1
        script = scripts[index] if index >= 0 and ord(char) <= ends[index] else "Unknown"
        if len(_SCRIPT_OF) >= _SCRIPT_CACHE_MAX:
            _SCRIPT_OF.clear()
        _SCRIPT_OF[char] = script
    return script


def _mixed(chars: str | set[str]) -> bool:
    """Whether ``chars`` hold letters of more than one script."""
    known = _SCRIPT_OF
    return len({known.get(c) or _script(c) for c in chars} - _NO_SCRIPT) > 1


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    table, foldable = _folds()
    if foldable.search(word) is None or not _mixed(word):
        return word
    return word.translate(table)


def _fold_every_word(text: str) -> str:
    """``fold_homoglyphs`` without its shortcuts (the reference the tests compare it with)."""
    return _WORD.sub(_fold_word, text)


def fold_homoglyphs(text: str) -> str:
    """Look-alike letters in words that mix scripts folded to the Latin letters they imitate
    ("b\u043emb", "\u13cfomb" -> "bomb"); words in one script are left as they are."""
    # Shortcuts, each exact: no letter outside the Latin blocks, a text in one script (its
    # distinct characters, looked up at C speed: most real text in any language), or no
    # character that has a Latin look-alike means no word to fold.
    if _OUTSIDE_LATIN.search(text) is None or not _mixed(set(text)):
        return text
    if _folds()[1].search(text) is None:
        return text
    return _fold_every_word(text)


@functools.cache
def _fancy_letters() -> tuple[dict[int, str], re.Pattern[str]]:
    """Each character whose Unicode name makes it a Latin letter A-Z in disguise, and that NFKC
    leaves as it is (NFKC already turns "\u24b7" or "\U0001d41b" into "b"), with its ASCII
    letter; and a pattern finding any of them (built once, on first use)."""
    table: dict[int, str] = {}
    for code in _FANCY_RANGE:
        char = chr(code)
        match = _FANCY_NAME.fullmatch(unicodedata.name(char, ""))
        if match is None or unicodedata.category(char).startswith("M"):
            continue  # "COMBINING LATIN SMALL LETTER A" is an accent: a stray mark, removed
        if _INVISIBLE.match(char) or unicodedata.normalize("NFKC", char) != char:
            continue
        small = match["case"] == "SMALL " or (match["case"] is None and match["small_capital"])
        table[code] = match["letter"].lower() if small else match["letter"]
    # As ranges (about 20): a class of a hundred single characters costs several times more to
    # search, on every non-Latin-1 text.
    ranges: list[list[int]] = []
    for code in sorted(table):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    chars = "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges)
    return table, re.compile(f"[{chars}]")


def fold_fancy_letters(text: str) -> str:
    """Latin letters drawn as other characters (small capitals "\u0299", negative squared
    "\U0001f171" or circled "\U0001f151", regional indicators "\U0001f1e7") folded to ASCII, in
    any word: they are no language's letters. Accented letters ("\u00e9", "\u00df") stay."""
    if _BEYOND_LATIN_1.search(text) is None:
        return text
    table, foldable = _fancy_letters()
    return text.translate(table) if foldable.search(text) else text


def reveal(text: str) -> str:
    """Non-ASCII text as Llama Guard must read it: nothing hidden, split or disguised.

    Sendable (no lone surrogate), smuggled text decoded onto lines of its own, no
    Default_Ignorable_Code_Point, NFKC, no stray combining mark, fancy letters folded,
    mixed-script words folded.
    """
    text = _SURROGATE.sub("\ufffd", text)
    hidden = smuggled(text)
    if hidden:
        text = "\n".join([text, *hidden])
    # Invisible characters go first: one inside a word would split it (hiding the mix of
    # scripts below) or keep an accent from composing onto its letter.
    text = _INVISIBLE.sub("", text)
    # Fancy letters first, so the mixed-script folds below see them as the Latin letters they
    # are ("\U0001f1e7\u043e\U0001f1f2\U0001f1e7" is the mixed word "B\u043eMB"), even a look-alike
    # that NFKC would turn into a space and a mark ("\U0001f173\u037a" -> "Di", not "D").
    text = fold_fancy_letters(text)
    # Folded before NFKC too, which would turn a few look-alikes into letters that look like
    # no Latin one (Greek lunate sigma "\u03f2" reads as "c", its NFKC form "\u03c2" does not);
    # and after it, for the Latin letters NFKC makes of compatibility forms ("\U0001d41b").
    # Text NFKC leaves as it is needs the second fold only (the first would fold nothing the
    # second does not: removing stray marks only joins words, and a mixed word stays mixed).
    if not unicodedata.is_normalized("NFKC", text):
        text = fold_homoglyphs(text)
        text = unicodedata.normalize("NFKC", text)
        # Again for the few fancy letters NFKC makes of other characters ("\u1da6" ->
        # "\u026a"); text NFKC left alone has none left (the fold above took them all).
        text = fold_fancy_letters(text)
    text, removed = _STRAY_MARKS.subn("", text)
    # A mark removed from between two others that NFKC orders around it (an enclosing circle
    # "\u20dd" has combining class 0) leaves them out of canonical order: NFKC again, or the
    # next pass would reorder them ("x\u0484\u20dd\u05b7" -> "x\u0484\u05b7" -> "x\u05b7\u0484").
    if removed and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return fold_homoglyphs(text)
