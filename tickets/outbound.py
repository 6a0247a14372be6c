"""Side effects of tickets that leave the process (email, broadcasts) arrive with
the multichannel issue; tickets publish through pods' channel-layer helpers."""
