"""ArenaDesk: compare the open models you run yourself with GPT."""
__version__ = "0.1.0"
