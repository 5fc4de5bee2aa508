"""Answer judges: an offline rule-based judge and an OpenAI-compatible LLM judge.

``judge_answer`` is deterministic and needs no network (the default everywhere); ``LLMJudge`` reproduces the
paper's GPT-4o judge against any OpenAI-compatible endpoint, with a cache and loud failures.
"""

from grit.judge.llm import JudgeError, LLMJudge
from grit.judge.rule import judge_answer

__all__ = ["JudgeError", "LLMJudge", "judge_answer"]
