#!/bin/sh
# Packages must not start their services at build time; containers start them.
exit 101
