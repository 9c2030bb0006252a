"""langprune: which calibration language should you use to prune a multilingual LLM?"""

__version__ = "0.1.0"
