/*
 * verdict/verdict.h — libverdict, everything at once.
 *
 * libverdict answers endpoint-security permission events before their
 * deadline, every time: embed it with your own evaluator and a backend's
 * respond callback, and get the pipeline, the deadline guarantee and the
 * counters.  See verdict/pipeline.h first.
 */
#ifndef VERDICT_VERDICT_H
#define VERDICT_VERDICT_H

#include <verdict/backend.h>
#include <verdict/counters.h>
#include <verdict/digest.h>
#include <verdict/event.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>
#include <verdict/stats.h>
#include <verdict/version.h>

#endif
