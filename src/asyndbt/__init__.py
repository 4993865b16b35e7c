"""asyndbt: federated, asynchronous bilevel prompt tuning for black-box LLM classifiers.

Importing the package is cheap: llama.cpp and the HTTP stack are imported only by the backends
that need them.
"""

from asyndbt.errors import AsyndbtError

__version__ = "0.1.0"
__all__ = ["AsyndbtError", "__version__"]
