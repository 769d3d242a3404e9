"""Chinese text normalization as GPT-SoVITS does it before g2p.

Digits and symbols become Chinese characters the way upstream reads them:

* dates ``2024年5月1日`` -> 二零二四年五月一日 (the year digit by digit), ``2024-05-01`` too;
* times ``15:30`` -> 十五点半, ``8:05`` -> 八点零五分; ranges ``3~5`` -> 三到五 (``3-5`` is
  read as arithmetic, 三减五, as upstream does);
* ``-3°C`` -> 零下三度, ``60%`` -> 百分之六十, ``3/4`` -> 四分之三, ``-7`` -> 负七;
* a number before a measure word is a cardinal (``2个`` -> 两个, ``300页`` -> 三百页, but
  ``第2节`` -> 第二节);
* other numbers of three or more digits are read digit by digit with 幺 for 1 (codes, room
  numbers), phone numbers likewise; shorter ones are cardinals, decimals ``3.14`` -> 三点一四;
* units (cm, kg, km, ml...), Greek letters and ``+ - × ÷ =`` become words.

Then full-width forms become half-width, Chinese punctuation maps to ``, . ! ? … -``, and
everything else that is not a CJK ideograph or one of those marks is dropped. Traditional
characters are kept as they are (pypinyin reads them; upstream converts them to simplified).
"""

from __future__ import annotations

import re

__all__ = ["normalize_zh", "cardinal", "digits", "number", "collapse_punctuation"]

_DIGITS = "零一二三四五六七八九"
_UNIT_STEPS = ((8, "亿"), (4, "万"), (3, "千"), (2, "百"), (1, "十"))
_PUNCT = "!?….,-"
_MEASURE_WORDS = (
    "个|位|名|人|口|只|头|匹|条|尾|棵|株|朵|片|张|本|册|页|篇|章|节|句|首|封|份|件|套|双|对|副|"
    "把|支|枝|根|杯|碗|瓶|罐|盒|箱|袋|包|桶|盘|碟|壶|锅|斤|两|吨|克|千克|公斤|毫克|米|厘米|毫米|"
    "千米|公里|里|尺|寸|丈|亩|升|毫升|元|块|角|毛|分|钱|美元|万元|亿元|岁|年|月|日|号|天|周|"
    "小时|分钟|秒|秒钟|刻|次|回|遍|趟|场|届|期|批|座|栋|幢|层|间|所|家|户|辆|架|艘|台|部|"
    "门|道|颗|粒|滴|块|项|种|类|样|群|队|班|组|排|行|列|段|步|声|眼|下|顿|阵|番|倍|度|"
    "集|台|部|届|届|代|辈|世纪"
)
_RE_DATE = re.compile(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?((0?[1-9]|[12]\d|3[01])([日号]))?")
_RE_DATE_DASHED = re.compile(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12]\d|3[01])")
_TIME = r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?"
_RE_TIME_RANGE = re.compile(_TIME + r"[~-]" + _TIME)
_RE_TIME = re.compile(_TIME)
_UNITS_ZH = {
    "cm2": "平方厘米", "cm²": "平方厘米", "cm3": "立方厘米", "cm³": "立方厘米", "cm": "厘米",
    "db": "分贝", "ds": "毫秒", "kg": "千克", "km": "千米", "m2": "平方米", "m²": "平方米",
    "m³": "立方米", "m3": "立方米", "ml": "毫升", "mm": "毫米", "m": "米", "s": "秒",
}  # fmt: skip
_UNIT_ALT = "%|°C|℃|度|摄氏度|" + "|".join(sorted(_UNITS_ZH, key=len, reverse=True))
_NUM = r"-?\d+(?:\.\d+)?|\.\d+"
_RE_TO_RANGE = re.compile(rf"({_NUM})({_UNIT_ALT})~({_NUM})({_UNIT_ALT})")
_RE_TEMPERATURE = re.compile(r"(-?)(\d+(?:\.\d+)?)(°C|℃|度|摄氏度)")
_SUPER = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_OPERAND = rf"(?:-?\d+(?:\.\d+)?[{_SUPER}]*|\.\d+[{_SUPER}]*|[A-Za-z][{_SUPER}]*)"
_RE_ARITHMETIC = re.compile(rf"({_OPERAND})([+\-×÷=])({_OPERAND})")
_OPERATOR_WORDS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}
_RE_POWER = re.compile(rf"[{_SUPER}]+")
_RE_FRACTION = re.compile(r"(-?)(\d+)/(\d+)")
_RE_PERCENT = re.compile(r"(-?)(\d+(?:\.\d+)?)%")
_RE_MOBILE = re.compile(r"(?<!\d)((?:\+?86 ?)?1(?:[38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)")
_RE_PHONE = re.compile(r"(?<!\d)((?:0(?:10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)")
_RE_SERVICE_NUMBER = re.compile(r"400-?\d{3}-?\d{4}")
_RE_RANGE = re.compile(r"(?<![\d+\-×÷=])(-?\d+(?:\.\d+)?)[-~](-?\d+(?:\.\d+)?)(?![\d+\-×÷=])")
_RE_NEGATIVE = re.compile(r"-(\d+)")
_RE_VERSION = re.compile(r"\d+(?:\.\d+){2,}")
_RE_DECIMAL = re.compile(r"(-?)(\d+\.\d+)|\.(\d+)")
_RE_COUNTED = re.compile(rf"(?<!第)(\d+)([多余几+])?({_MEASURE_WORDS})")
_RE_LONG = re.compile(r"\d{3,}")
_RE_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_RE_YEAR_RANGE = re.compile(r"(?<!\d)(\d{4})[-~](\d{4})(?![\d年])")
_RE_NUMBER = re.compile(r"(-?)(\d+(?:\.\d+)?)|\.(\d+)")
_GREEK = {
    "α": "阿尔法", "β": "贝塔", "γ": "伽玛", "Γ": "伽玛", "δ": "德尔塔", "Δ": "德尔塔",
    "ε": "艾普西龙", "ζ": "捷塔", "η": "依塔", "θ": "西塔", "Θ": "西塔", "ι": "艾欧塔",
    "κ": "喀帕", "λ": "拉姆达", "Λ": "拉姆达", "μ": "缪", "ν": "拗", "ξ": "克西", "Ξ": "克西",
    "ο": "欧米克伦", "π": "派", "Π": "派", "ρ": "肉", "ς": "西格玛", "Σ": "西格玛",
    "σ": "西格玛", "τ": "套", "υ": "宇普西龙", "φ": "服艾", "Φ": "服艾", "χ": "器",
    "ψ": "普赛", "Ψ": "普赛", "ω": "欧米伽", "Ω": "欧米伽",
}  # fmt: skip
_CIRCLED = {chr(0x2460 + i): "一二三四五六七八九十"[i] for i in range(10)}
_PUNCT_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",",
    "、": ",", "...": "…", "$": ".", "/": ",", "—": "-", "~": "…", "～": "…",
}  # fmt: skip
_RE_PUNCT_MAP = re.compile("|".join(re.escape(k) for k in _PUNCT_MAP))
_RE_SENTENCE_END = re.compile(r"([：、，；。？！,;?!][”’]?)")
_FULL_WIDTH = {0xFF10 + i: 0x30 + i for i in range(10)} | {
    0xFF21 + i: 0x41 + i for i in range(26)
} | {0xFF41 + i: 0x61 + i for i in range(26)} | {0x3000: 0x20}


def digits(text: str, alt_one: bool = False) -> str:
    """Digit by digit: ``"110"`` -> 一一零 (幺幺零 with ``alt_one``)."""
    said = "".join(_DIGITS[int(d)] for d in text)
    return said.replace("一", "幺") if alt_one else said


def _cardinal_parts(text: str, zero_lead: bool = True) -> str:
    core = text.lstrip("0")
    if not core:
        return ""
    if len(core) == 1:
        return ("零" if zero_lead and len(core) < len(text) else "") + _DIGITS[int(core)]
    step, unit = next((s, u) for s, u in _UNIT_STEPS if s < len(core))
    return _cardinal_parts(text[:-step]) + unit + _cardinal_parts(text[-step:])


def cardinal(text: str) -> str:
    """An integer string read as a number: ``"10050"`` -> 一万零五十, ``"15"`` -> 十五."""
    core = text.lstrip("0")
    if not core:
        return "零" if text else ""
    said = _cardinal_parts(core)
    return said[1:] if said.startswith("一十") else said


def number(text: str) -> str:
    """A decimal string: ``"3.14"`` -> 三点一四, ``".5"`` -> 零点五 (a final zero is read)."""
    whole, _, frac = text.partition(".")
    said = cardinal(whole)
    frac = frac.rstrip("0") + "0" if frac.endswith("0") else frac
    if frac:
        said = (said or "零") + "点" + digits(frac)
    return said


def _time(hour: str, minute: str, second: str | None) -> str:
    said = number(hour) + "点"
    if minute.lstrip("0"):
        zero = "零" if minute.startswith("0") else ""
        said += "半" if int(minute) == 30 else f"{zero}{number(minute.lstrip('0'))}分"
    if second and second.lstrip("0"):
        zero = "零" if second.startswith("0") else ""
        said += f"{zero}{number(second.lstrip('0'))}秒"
    return said


def _time_range(m: re.Match[str]) -> str:
    return _time(m.group(1), m.group(2), m.group(3)) + "至" + _time(m.group(4), m.group(5), m.group(6))


def _date(m: re.Match[str]) -> str:
    said = digits(m.group(1)) + "年"
    if m.group(3):
        said += cardinal(m.group(3)) + "月"
    if m.group(5):
        said += cardinal(m.group(5)) + m.group(6)
    return said


def _signed(m: re.Match[str]) -> str:
    """A match of ``(-?)(digits.digits)|\\.(digits)``: signed number or bare decimal."""
    if m.group(2):
        return ("负" if m.group(1) else "") + number(m.group(2))
    return number("." + m.group(3))


def _counted(m: re.Match[str]) -> str:
    said = number(m.group(1))
    more = "多" if m.group(2) == "+" else (m.group(2) or "")
    return ("两" if said == "二" else said) + more + m.group(3)


def _phone(text: str, sep: str) -> str:
    return "，".join(digits(part, alt_one=True) for part in text.strip("+").split(sep))


def _numbers(s: str) -> str:
    """Every digit-bearing pattern of one sentence, in upstream's order.

    Unlike upstream, phone numbers and year ranges (2019-2020) are found before arithmetic,
    so their dashes do not read as 减 (and :func:`normalize_zh` drops thousands separators).
    """
    s = _RE_DATE.sub(_date, s)
    s = _RE_DATE_DASHED.sub(
        lambda m: f"{digits(m.group(1))}年{cardinal(m.group(3))}月{cardinal(m.group(4))}日", s
    )
    s = _RE_TIME_RANGE.sub(_time_range, s)
    s = _RE_TIME.sub(lambda m: _time(m.group(1), m.group(2), m.group(3)), s)
    s = _RE_TO_RANGE.sub(lambda m: m.group(0).replace("~", "至"), s)
    s = _RE_MOBILE.sub(lambda m: _phone(m.group(0), " "), s)
    s = _RE_PHONE.sub(lambda m: _phone(m.group(0), "-"), s)
    s = _RE_SERVICE_NUMBER.sub(lambda m: _phone(m.group(0), "-"), s)
    s = _RE_YEAR_RANGE.sub(lambda m: f"{digits(m.group(1))}到{digits(m.group(2))}", s)
    s = _RE_TEMPERATURE.sub(
        lambda m: ("零下" if m.group(1) else "") + number(m.group(2)) + ("摄氏度" if m.group(3) == "摄氏度" else "度"), s
    )
    for unit in _UNITS_ZH:
        s = s.replace(unit, _UNITS_ZH[unit])
    while _RE_ARITHMETIC.search(s):
        s = _RE_ARITHMETIC.sub(lambda m: m.group(1) + _OPERATOR_WORDS[m.group(2)] + m.group(3), s)
    s = _RE_POWER.sub(lambda m: "的" + m.group(0).translate(str.maketrans(_SUPER, "0123456789xyn")) + "次方", s)
    s = _RE_FRACTION.sub(lambda m: ("负" if m.group(1) else "") + f"{number(m.group(3))}分之{number(m.group(2))}", s)
    s = _RE_PERCENT.sub(lambda m: ("负" if m.group(1) else "") + "百分之" + number(m.group(2)), s)
    s = _RE_RANGE.sub(lambda m: f"{_RE_NUMBER.sub(_signed, m.group(1))}到{_RE_NUMBER.sub(_signed, m.group(2))}", s)
    s = _RE_NEGATIVE.sub(lambda m: "负" + number(m.group(1)), s)
    s = _RE_VERSION.sub(lambda m: "点".join(digits(p) for p in m.group(0).split(".")), s)
    s = _RE_DECIMAL.sub(_signed, s)
    s = _RE_COUNTED.sub(_counted, s)
    s = _RE_LONG.sub(lambda m: digits(m.group(0), alt_one=True), s)
    return _RE_NUMBER.sub(_signed, s)


def _symbols(s: str) -> str:
    s = s.replace("/", "每")
    for table in (_CIRCLED, _GREEK, {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等"}):
        for key, said in table.items():
            s = s.replace(key, said)
    return re.sub(r"[-—《》【】<=>{}()（）#&@“”^_|\\]", "", s)


def collapse_punctuation(text: str) -> str:
    """Keep only the first of a run of punctuation marks."""
    marks = re.escape(_PUNCT)
    return re.sub(f"([{marks}])[{marks}]+", r"\1", text)


def _keep_chinese(s: str) -> str:
    s = s.replace("嗯", "恩").replace("呣", "母")
    s = _RE_PUNCT_MAP.sub(lambda m: _PUNCT_MAP[m.group(0)], s)
    return re.sub(rf"[^\u4e00-\u9fa5{re.escape(_PUNCT)}]+", "", s)


def normalize_zh(text: str) -> str:
    """Chinese text as the Chinese g2p expects it (see the module docstring)."""
    text = _RE_THOUSANDS.sub("", text.replace(" ", ""))
    text = re.sub(r"[——《》【】<>{}()（）#&@“”^_|\\]", "", text)
    sentences = [s.strip() for s in re.split(r"\n+", _RE_SENTENCE_END.sub(r"\1\n", text).strip())]
    out = []
    for s in sentences:
        out.append(_keep_chinese(_symbols(_numbers(s.translate(_FULL_WIDTH)))))
    return collapse_punctuation("".join(out))
