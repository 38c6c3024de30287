#!/bin/sh
# exact_match.sh: an external verifier in POSIX sh, no other program
# started per request ([task] verifier = sh deploy/verifiers/exact_match.sh).
# Reward 1 (accuracy 1) if the completion equals the reference answer and
# the model stopped by itself, else 0. --reverse: the completion writes the
# answer's digits least-significant first, then '-' if negative, as the
# arith task does ("861" for 168).
#
# Its JSON handling is minimal, made for the trainer's requests (compact,
# keys in the order id, prompt, completion, answer, finished) and answers
# that are plain text such as integers: string escapes (\" \\ \n \u00e9)
# are not decoded, so a completion holding one is compared as written
# escaped and simply does not match an answer without escapes; an answer
# holding one would never match. Use exact_match.py for general text.
reverse=0
[ "${1:-}" = "--reverse" ] && reverse=1

while IFS= read -r line; do
    rest=${line#*\"id\":}
    id=${rest%%[!0-9]*}
    rest=${line#*\"completion\":\"}
    completion=${rest%%\"*}
    rest=${line#*\"answer\":\"}
    answer=${rest%%\"*}
    case $line in
    *'"finished":true'*) finished=1 ;;
    *) finished=0 ;;
    esac
    if [ "$reverse" = 1 ]; then # "168" -> "861", "-2" -> "2-"
        s=${answer#-}
        sign=${answer%"$s"}
        r=
        while [ -n "$s" ]; do
            tail=${s#?}
            r=${s%"$tail"}$r
            s=$tail
        done
        answer=$r$sign
    fi
    acc=0
    [ "$finished" = 1 ] && [ "$completion" = "$answer" ] && acc=1
    printf '{"id":%s,"reward":%s,"components":{"accuracy":%s}}\n' "$id" "$acc" "$acc"
done
