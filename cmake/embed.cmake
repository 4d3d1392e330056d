# embed.cmake - a text file as a C array, so the volley binary carries it
# (tools/report.html, the report's template). Run as
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# and get `const char NAME[]` (the bytes and a NUL) and
# `const unsigned long NAME_len` (the bytes without the NUL).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
# 16 bytes to a line
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}"
  "/* generated from ${IN} by cmake/embed.cmake: do not edit */\n"
  "const char ${NAME}[] = {\n${body}0x00};\n"
  "const unsigned long ${NAME}_len = ${len};\n")
