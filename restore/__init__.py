"""Restore drills: snapshot choice, restore, integrity check, live check, working-day clock."""
