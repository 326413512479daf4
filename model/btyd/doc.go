// Package btyd holds the probabilistic "buy till you die" baselines for
// non-contractual customers: the BG/NBD model of purchase counts and
// dropout (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
// Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)),
// and per-customer summaries of transactions in the form it reads.
//
// It may import datasets; it must not import train, serve or cmd.
package btyd
