"""The Signal: who hears about an incident, when, and who is chased until someone answers.

Routing picks receivers by matchers, groups hold incidents back for `group_wait` and
batch them, silences and inhibition mute what is known or caused by something else,
and escalation policies notify step by step until an acknowledgement. All of it is
state in the database, driven by one scheduler, so it survives restarts.
"""
