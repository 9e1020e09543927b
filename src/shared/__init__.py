"""Code every function gets: in a Lambda package it is the top-level package `shared`."""
