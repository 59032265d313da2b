"""Deploys: targets (where releases run and how traffic reaches them), strategies (pure state
machines), analysis (measurements and judges), the journal (crash-safe state) and drills."""
