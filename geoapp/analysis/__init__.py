"""Analyses over trained models: similarity maps, geolocalization, probes, attention, ablations."""
