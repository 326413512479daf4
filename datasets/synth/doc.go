// Package synth generates synthetic gym data — members, a weekly class
// timetable, visits and payments — together with the exact ground truth of
// the process that generated it: for each member at a set of cutoffs, the
// probability of the churn label and the distribution of the category of
// the next class. It is retain's embedded default data set and the
// yardstick for every model: a model is compared with baselines and with
// the oracle that this truth defines.
//
// Each member is a Markov chain over an explicit state (motivation and its
// target, recent visit and spend averages, contract position, pack credits,
// stored value, freeze, last class category, ...) with static parameters
// drawn at sign-up (visit rate, category preferences and habits,
// weekday and time-of-day preferences, prices, frailty). One transition
// function advances a member by a week and emits the week's events. The
// ground truth at a cutoff re-simulates the member's next HorizonWeeks
// weeks TruthSims times from a copy of its exact state, with independent
// random streams, through that same function, and applies to the simulated
// events the same observable label rule that a feature pipeline applies to
// the data. See docs/synthetic-data.md for the model, its parameters and
// the label.
//
// Generation is deterministic: every member has its own PCG stream derived
// from (Seed, member index), and every re-simulation its own stream derived
// from (Seed, member, cutoff, simulation index), so the output is the same
// for any number of workers. Members are simulated in parallel chunks and
// streamed to a Sink in member order; nothing holds the whole data set in
// memory.
//
// The package imports only retain/datasets and the standard library. It
// must not be read by the feature pipeline or the models as anything but
// data: the truth lives in a separate folder (truth/) of the data set.
package synth
