"""Prompt templates (plain text with {named} placeholders), installed as `assistant.prompts`."""
