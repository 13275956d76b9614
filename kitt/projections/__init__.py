"""Read models (KARR, agents, tests, campaigns, settings) and the projectors that build them."""
