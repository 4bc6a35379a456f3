"""The public import for applications: `from llm.services import groq_service, LLMServiceError`.

The Groq boundary itself lives in llm/sources/groq.py.
"""

from llm.sources.groq import AsyncLLMStream, LLMServiceError, LLMStream, groq_service

__all__ = ["AsyncLLMStream", "LLMServiceError", "LLMStream", "groq_service"]
