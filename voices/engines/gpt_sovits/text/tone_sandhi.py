"""Mandarin tone changes in connected speech, applied to pypinyin's dictionary tones.

The rules GPT-SoVITS applies (after PaddleSpeech's frontend), on jieba words:

* 不 before a fourth tone becomes bu2; 不 inside a three-character word (看不懂) is neutral.
* 一 becomes yi2 before a fourth tone and yi4 before others; it stays yi1 in numbers and
  ordinals (第一) and is neutral between a repeated verb (看一看).
* neutral tone (5): repeated nouns/verbs/adjectives (奶奶, 试试), sentence particles (吧, 呢),
  的/地/得, aspect particles 了/着/过, suffixes 们/子 on nouns and pronouns, place words ending
  in 上/下/里, directional complements (上来, 出去), the measure word 个, and a list of
  words whose second syllable is conventionally neutral (:data:`NEUTRAL_TONE_WORDS`).
* third-tone sandhi: 3-3 becomes 2-3 inside a word, split at the word's sub-words for
  three- and four-character words.

Before the rules, jieba's words are re-grouped so each rule sees its whole context: 不 and
一 join the next word, repeated words merge, short third-tone runs merge, 儿 joins the word
before it. The word lists here are castline's own.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

__all__ = ["NEUTRAL_TONE_WORDS", "NOT_NEUTRAL_WORDS", "pre_merge", "apply_sandhi", "finals_of"]

NEUTRAL_TONE_WORDS: frozenset[str] = frozenset(
    """
    麻烦 马虎 明白 朋友 豆腐 东西 衣服 衣裳 事情 时候 地方 关系 先生 学生 意思 知识 消息 休息
    喜欢 认识 告诉 商量 打扮 打听 打算 打量 打发 打点 答应 琢磨 收拾 招呼 吆喝 咳嗽 哆嗦 嘀咕
    嘟囔 嘱咐 念叨 叫唤 折腾 翻腾 扑腾 倒腾 溜达 耷拉 眨巴 凑合 张罗 应酬 巴结 欺负 挑剔 抬举
    挖苦 佩服 称呼 耽误 耽搁 提防 算计 盘算 思量 惦记 包涵 得罪 委屈 冤枉 糊涂 聪明 漂亮 清楚
    舒服 舒坦 痛快 凉快 暖和 热闹 结实 踏实 老实 扎实 壮实 厚道 地道 客气 小气 大方 利索 利落
    勤快 麻利 机灵 精神 新鲜 便宜 别扭 窝囊 厉害 苗条 体面 活泼 秀气 阔气 福气 运气 脾气 力气
    志气 眼睛 眉毛 耳朵 嘴巴 脑袋 胳膊 指甲 指头 屁股 尾巴 下巴 巴掌 头发 丈夫 媳妇 女婿 姑娘
    闺女 小伙 伙计 亲戚 亲家 师傅 师父 大夫 老爷 少爷 大爷 姥爷 老婆 老太 老头 丈人 外甥 妯娌
    兄弟 弟兄 姐夫 寡妇 媒人 裁缝 铁匠 木匠 石匠 状元 秀才 和尚 道士 奴才 财主 东家 街坊 冤家
    爱人 行李 窗户 篱笆 栅栏 帐篷 棺材 风筝 灯笼 铃铛 扫帚 笤帚 簸箕 扁担 算盘 包袱 口袋 戒指
    首饰 胭脂 膏药 钥匙 萝卜 葡萄 葫芦 蘑菇 核桃 芝麻 甘蔗 石榴 枇杷 荸荠 玫瑰 琵琶 喇叭 喇嘛
    菩萨 玻璃 琉璃 月亮 太阳 云彩 烧饼 月饼 馄饨 粮食 庄稼 柴火 火候 点心 衙门 牌楼 骆驼 狐狸
    苍蝇 跳蚤 刺猬 蛤蟆 畜生 牲口 鸳鸯 蚂蚱 故事 生意 买卖 本事 能耐 架势 动静 动弹 规矩 学问
    记性 悟性 名字 名堂 主意 心思 念头 交情 见识 世故 玄乎 稀罕 希罕 含糊 模糊 迷糊 那么 这么
    怎么 什么 多么 多少 似的 认得 晓得 记得 木头 石头 舌头 骨头 枕头 馒头 码头 跟头 拳头 罐头
    锄头 苗头 甜头 里头 外头 前头 后头 上头 胡同 比方 造化 下水 打手 对付 招牌 嫁妆 包子 热乎
    """.split()
)
"""Words whose last syllable is neutral in standard Mandarin (beyond what the rules cover)."""

NOT_NEUTRAL_WORDS: frozenset[str] = frozenset(
    """
    男子 女子 分子 原子 电子 质子 中子 量子 粒子 因子 离子 卵子 瓜子 莲子 石子 棋子 算子 学子
    游子 赤子 君子 天子 太子 王子 公子 弟子 人人 个个 年年 家家 处处 整整 哈哈 嘻嘻 呵呵 冉冉
    袅袅 熙熙 攘攘 莘莘 佼佼 恳恳 青青 土地 草地 各地 本地 外地 内地 基地 场地 陆地 天地 田地
    大地 当地 落地 耕地 目的地
    """.split()
)
"""Words the neutral-tone rules would otherwise wrongly make neutral (子 and 地 are full here)."""

_PARTICLES = "吧呢哈啊呐噻嘛吖嗨哦哒额滴哩哟喽啰耶喔诶"
_PUNCT_CHARS = "：，；。？！“”‘’':,;.?!"
_log = logging.getLogger(__name__)


def finals_of(word: str) -> list[str]:
    """pypinyin's finals with tone digits (5 = neutral) for each character of ``word``."""
    from pypinyin import Style, lazy_pinyin

    return list(lazy_pinyin(word, style=Style.FINALS_TONE3, neutral_tone_with_five=True))


def _retone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_third(finals: Sequence[str]) -> bool:
    return all(f[-1:] == "3" for f in finals)


def _jieba() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jieba imports the deprecated pkg_resources
        import jieba

    jieba.setLogLevel(logging.CRITICAL)
    return jieba


def _split_word(word: str) -> tuple[str, str]:
    """The word as (shortest jieba search sub-word, rest), in reading order."""
    parts = sorted(_jieba().cut_for_search(word), key=len)  # type: ignore[attr-defined]
    first = parts[0]
    if word.find(first) == 0:
        return first, word[len(first) :]
    return word[: -len(first)], first


# ---- re-grouping jieba's words -------------------------------------------------------------

Seg = list[list[str]]
"""Words as ``[word, part_of_speech]`` pairs."""


def _merge_bu(seg: Seg) -> Seg:
    out: Seg = []
    last = ""
    for word, pos in seg:
        if last == "不":
            word = last + word
        if word != "不":
            out.append([word, pos])
        last = word
    if last == "不":
        out.append(["不", "d"])
    return out


def _merge_yi(seg: Seg) -> Seg:
    out: Seg = []
    i = 0
    while i < len(seg):
        word, pos = seg[i]
        if 0 < i < len(seg) - 1 and word == "一":
            left = out[-1] if out else seg[i - 1]
            right = seg[i + 1]
            if left[0] == right[0] and left[1] == "v" and right[1] == "v":
                out[-1] = [left[0] + "一" + right[0], left[1]]
                i += 2
                continue
        out.append([word, pos])
        i += 1
    joined: Seg = []
    for word, pos in out:
        if joined and joined[-1][0] == "一":
            joined[-1][0] += word
        else:
            joined.append([word, pos])
    return joined


def _merge_repeats(seg: Seg) -> Seg:
    out: Seg = []
    for word, pos in seg:
        if out and word == out[-1][0]:
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def _merge_third_tones(seg: Seg, whole_words: bool) -> Seg:
    """Merge neighbours (at most 3 characters) that meet in third tones.

    ``whole_words``: both words entirely third tone; else the last syllable of the first and
    the first syllable of the second.
    """
    finals = [finals_of(word) for word, _ in seg]
    out: Seg = []
    merged = [False] * len(seg)
    for i, (word, pos) in enumerate(seg):
        prev = finals[i - 1] if i else []
        if whole_words:
            meets = bool(prev) and _all_third(prev) and _all_third(finals[i])
        else:
            meets = bool(prev) and bool(finals[i]) and prev[-1][-1:] == "3" and finals[i][0][-1:] == "3"
        prev_word = seg[i - 1][0] if i else ""
        repeated = len(prev_word) == 2 and prev_word[0] == prev_word[1]
        if meets and not merged[i - 1] and not repeated and len(prev_word) + len(word) <= 3:
            out[-1][0] += word
            merged[i] = True
        else:
            out.append([word, pos])
    return out


def _merge_er(seg: Seg) -> Seg:
    out: Seg = []
    for i, (word, pos) in enumerate(seg):
        if i and word == "儿" and seg[i - 1][0] != "#":
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def pre_merge(seg: Sequence[tuple[str, str]]) -> Seg:
    """Re-group jieba's ``(word, pos)`` list so that the sandhi rules see whole contexts."""
    words: Seg = [[w, p] for w, p in seg]
    words = _merge_yi(_merge_bu(words))
    words = _merge_repeats(words)
    words = _merge_third_tones(words, whole_words=True)
    words = _merge_third_tones(words, whole_words=False)
    return _merge_er(words)


# ---- the rules ------------------------------------------------------------------------------


def _bu(word: str, finals: list[str]) -> list[str]:
    if len(word) == 3 and word[1] == "不":
        finals[1] = _retone(finals[1], "5")
        return finals
    for i, ch in enumerate(word[:-1]):
        if ch == "不" and finals[i + 1][-1:] == "4":
            finals[i] = _retone(finals[i], "2")
    return finals


def _yi(word: str, finals: list[str]) -> list[str]:
    if "一" in word and all(ch.isnumeric() for ch in word if ch != "一"):
        return finals
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
        finals[1] = _retone(finals[1], "5")
    elif word.startswith("第一"):
        finals[1] = _retone(finals[1], "1")
    else:
        for i, ch in enumerate(word[:-1]):
            if ch != "一":
                continue
            if finals[i + 1][-1:] == "4":
                finals[i] = _retone(finals[i], "2")
            elif word[i + 1] not in _PUNCT_CHARS:
                finals[i] = _retone(finals[i], "4")
    return finals


def _is_neutral_word(word: str) -> bool:
    return word in NEUTRAL_TONE_WORDS or word[-2:] in NEUTRAL_TONE_WORDS


def _neutral_last(word: str, pos: str) -> bool:
    """Whether the rules make the last syllable of ``word`` neutral (个 is handled apart)."""
    last = word[-1]
    if last in _PARTICLES:
        return True
    if last in "的地得":
        return word not in NOT_NEUTRAL_WORDS
    if len(word) == 1:
        return word in "了着过" and pos in ("ul", "uz", "ug")
    if last in "们子" and pos in ("r", "n"):
        return word not in NOT_NEUTRAL_WORDS
    if last in "上下里" and pos in ("s", "l", "f"):
        return True
    return last in "来去" and word[-2] in "上下进出回过起开"


def _neutral(word: str, pos: str, finals: list[str]) -> list[str]:
    for j in range(1, len(word)):
        if word[j] == word[j - 1] and pos[:1] in ("n", "v", "a") and word not in NOT_NEUTRAL_WORDS:
            finals[j] = _retone(finals[j], "5")
    ge = word.find("个")
    if _neutral_last(word, pos):
        finals[-1] = _retone(finals[-1], "5")
    elif word == "个" or (ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in "几有两半多各整每做是")):
        finals[ge] = _retone(finals[ge], "5")
    elif _is_neutral_word(word):
        finals[-1] = _retone(finals[-1], "5")
    first, rest = _split_word(word)
    if _is_neutral_word(first):
        finals[len(first) - 1] = _retone(finals[len(first) - 1], "5")
    if rest and _is_neutral_word(rest):
        finals[-1] = _retone(finals[-1], "5")
    return finals


def _third(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_third(finals):
        finals[0] = _retone(finals[0], "2")
    elif len(word) == 3:
        first, _ = _split_word(word)
        if _all_third(finals):
            # 2+1 (蒙古/包): the first two rise; 1+2 (纸/老虎): the middle one rises
            rising = {1: (1,), 2: (0, 1)}.get(len(first), ())
            for i in rising:
                finals[i] = _retone(finals[i], "2")
        else:
            head, tail = finals[: len(first)], finals[len(first) :]
            for k, sub in enumerate((head, tail)):
                if len(sub) == 2 and _all_third(sub):
                    sub[0] = _retone(sub[0], "2")
                elif k == 1 and not _all_third(sub) and sub[0][-1:] == "3" and head[-1][-1:] == "3":
                    head[-1] = _retone(head[-1], "2")
            finals = head + tail
    elif len(word) == 4:
        head, tail = finals[:2], finals[2:]
        for sub in (head, tail):
            if _all_third(sub):
                sub[0] = _retone(sub[0], "2")
        finals = head + tail
    return finals


def apply_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    """``finals`` of ``word`` (one per character, tone digit last) after the tone rules."""
    if len(finals) != len(word):
        _log.debug("no sandhi for %r: %d finals for %d characters", word, len(finals), len(word))
        return finals
    finals = _bu(word, list(finals))
    finals = _yi(word, finals)
    finals = _neutral(word, pos, finals)
    return _third(word, finals)
