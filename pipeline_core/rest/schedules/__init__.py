"""Schedules over REST: create, list, get, update, enable, disable, their runs, next fire times, history."""
