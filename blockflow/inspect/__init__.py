"""Inspecting flows from their persisted state: graphs, tables, the web view."""
